// The queries of the template store, and the row shape they return.
import { sql } from 'slonik';
import { z } from 'zod';
import { CHANNELS, type Channel } from '../messages/sendRequest.ts';
import type { TemplateSources } from './templateInput.ts';

// slonik validates rows without applying transforms: timestamptz arrives as epoch milliseconds.
export const templateRow = z.object({
  template_id: z.string(),
  version: z.number(),
  channel: z.enum(CHANNELS).nullable(),
  subject: z.string().nullable(),
  text: z.string().nullable(),
  html: z.string().nullable(),
  created_at: z.number(),
});
export type TemplateRow = z.output<typeof templateRow>;

const COLUMNS = sql.fragment`template_id, version, channel, subject, text, html, created_at`;

/**
 * Adds version max + 1 of `templateId` (1 for a new id) in one statement. Returns no row when a
 * concurrent create took that number first: the caller tries again with a fresh snapshot.
 */
export function insertNextVersion(
  tenant: string,
  templateId: string,
  channel: Channel | null,
  sources: TemplateSources,
) {
  return sql.type(z.object({ version: z.number(), created_at: z.number() }))`
    INSERT INTO templates (tenant, template_id, version, channel, subject, text, html)
    SELECT ${tenant}::text, ${templateId}::text, coalesce(max(version), 0) + 1, ${channel}::text,
           ${sources.subject ?? null}::text, ${sources.text ?? null}::text, ${sources.html ?? null}::text
      FROM templates
     WHERE tenant = ${tenant} AND template_id = ${templateId}
    ON CONFLICT (tenant, template_id, version) DO NOTHING
    RETURNING version, created_at`;
}

/** One version, or the latest when `version` is null. */
export function selectTemplate(tenant: string, templateId: string, version: number | null) {
  const which = version === null ? sql.fragment`TRUE` : sql.fragment`version = ${version}`;
  return sql.type(templateRow)`
    SELECT ${COLUMNS} FROM templates
     WHERE tenant = ${tenant} AND template_id = ${templateId} AND ${which}
     ORDER BY version DESC
     LIMIT 1`;
}

/** The latest version of each template of the tenant, by id, after `after`. */
export function selectLatestTemplates(tenant: string, after: string | null, limit: number) {
  const from = after === null ? sql.fragment`TRUE` : sql.fragment`template_id > ${after}`;
  return sql.type(templateRow)`
    SELECT DISTINCT ON (template_id) ${COLUMNS} FROM templates
     WHERE tenant = ${tenant} AND ${from}
     ORDER BY template_id, version DESC
     LIMIT ${limit}`;
}

/** Which of `templateIds` the tenant has. */
export function selectExistingIds(tenant: string, templateIds: readonly string[]) {
  return sql.type(z.object({ template_id: z.string() }))`
    SELECT DISTINCT template_id FROM templates
     WHERE tenant = ${tenant} AND template_id = ANY(${sql.array(templateIds, 'text')})`;
}
