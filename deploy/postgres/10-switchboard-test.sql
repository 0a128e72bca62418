-- Runs once, when the postgres container initialises an empty data volume (deploy/compose.yaml):
-- the database the integration tests use, next to POSTGRES_DB=switchboard.
CREATE DATABASE switchboard_test;
