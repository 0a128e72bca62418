// Templates against PostgreSQL and the embedded PGlite store: numbered versions (also under racing
// creates), Liquid parse errors refused, rendering with strict variables, the parsed-template cache,
// and the /v1/templates route mounted on a bare hono app.
import { Hono } from 'hono';
import { sql } from 'slonik';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ProblemError, problemResponse } from '../../http/problem.ts';
import { templatesRoute } from '../../http/routes/templates.ts';
import { migrate } from '../../runtime/persistence/migrate.ts';
import {
  TemplateInvalidError,
  TemplateParseError,
  TemplateRenderError,
} from '../../runtime/templates/TemplateError.ts';
import { TemplateStore } from '../../runtime/templates/TemplateStore.ts';
import { FakeClock } from '../../runtime/time/FakeClock.ts';
import { STORES_UNDER_TEST, type StoreUnderTest } from '../support/storesUnderTest.ts';

const stores = STORES_UNDER_TEST;

const ada = { id: 'user-1', email: 'ada@example.com' };

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (error: unknown) => error,
  );
}

describe.each(stores)('templates on %s', (_name, open) => {
  let store: StoreUnderTest;
  let clock: FakeClock;
  let templates: TemplateStore;
  let tenant: string;
  let tenantCount = 0;

  beforeAll(async () => {
    store = await open();
    await migrate(store.database.pool);
  });

  afterAll(async () => {
    await store?.cleanup();
  });

  beforeEach(() => {
    // A fresh store (cold cache) and a fresh tenant per test: tests never see each other's templates.
    clock = new FakeClock(1_000_000);
    templates = new TemplateStore(store.database.pool, { clock, latestTtlMs: 5_000 });
    tenant = `tenant-${++tenantCount}`;
  });

  describe('versions', () => {
    it('numbers the versions of one id from 1, per tenant', async () => {
      expect(await templates.create(tenant, { id: 'welcome', channel: 'email', subject: 'v1', text: 'one' })).toEqual({
        id: 'welcome',
        version: 1,
      });
      expect(
        await templates.create(tenant, { id: 'welcome', channel: 'email', subject: 'v2', html: '<p>two</p>' }),
      ).toEqual({ id: 'welcome', version: 2 });
      expect(await templates.create(`${tenant}-other`, { id: 'welcome', text: 'x' })).toEqual({
        id: 'welcome',
        version: 1,
      });

      const latest = await templates.get(tenant, 'welcome');
      expect(latest).toMatchObject({
        id: 'welcome',
        version: 2,
        channel: 'email',
        subject: 'v2',
        text: null,
        html: '<p>two</p>',
      });
      expect(Date.parse(latest?.createdAt ?? '')).not.toBeNaN();
      expect(await templates.get(tenant, 'welcome', 1)).toMatchObject({
        version: 1,
        subject: 'v1',
        text: 'one',
        html: null,
      });
      expect(await templates.get(tenant, 'welcome', 3)).toBeNull();
      expect(await templates.get(tenant, 'nope')).toBeNull();
    });

    it('gives concurrent creates of one id distinct versions', async () => {
      const created = await Promise.all(
        Array.from({ length: 12 }, (_, i) => templates.create(tenant, { id: 'race', text: `copy ${i}` })),
      );
      expect(created.map((c) => c.version).sort((a, b) => a - b)).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
      const count = await store.database.pool.oneFirst(
        sql.type(z.object({ n: z.number() }))`
          SELECT count(*)::int AS n FROM templates WHERE tenant = ${tenant} AND template_id = 'race'`,
      );
      expect(count).toBe(12);
    });

    it('gives concurrent creates from two stores (two processes) distinct versions', async () => {
      const other = new TemplateStore(store.database.pool);
      const created = await Promise.all(
        Array.from({ length: 10 }, (_, i) => (i % 2 ? templates : other).create(tenant, { id: 'race2', text: `${i}` })),
      );
      expect(new Set(created.map((c) => c.version)).size).toBe(10);
    });

    it('refuses a part that is not valid Liquid, naming the part, message and line, and stores nothing', async () => {
      const error = await rejection(
        templates.create(tenant, { id: 'broken', subject: 'Hi {{ name }}', html: '<p>\n{% if vip %}VIP</p>' }),
      );
      expect(error).toBeInstanceOf(TemplateParseError);
      expect(error).toMatchObject({ part: 'html', line: 2, column: 1, liquidMessage: 'tag {% if vip %} not closed' });
      expect(await templates.get(tenant, 'broken')).toBeNull();
      expect(await templates.exists(tenant, 'broken')).toBe(false);
    });

    it('refuses input that lacks the parts its channel needs', async () => {
      const error = await rejection(templates.create(tenant, { id: 'sms-1', channel: 'sms', html: '<p>x</p>' }));
      expect(error).toBeInstanceOf(TemplateInvalidError);
      expect((error as TemplateInvalidError).errors).toEqual([
        { path: 'text', message: 'text is required for channel sms' },
      ]);
    });
  });

  describe('existence and listing', () => {
    it('says whether an id exists, and checks many in one query', async () => {
      await templates.create(tenant, { id: 'a', text: 'a' });
      await templates.create(tenant, { id: 'b', text: 'b' });
      const fresh = new TemplateStore(store.database.pool);
      expect(await fresh.exists(tenant, 'a')).toBe(true);
      expect(await fresh.exists(tenant, 'zzz')).toBe(false);
      expect(await fresh.exists(`${tenant}-other`, 'a')).toBe(false);

      const before = fresh.stats().queries;
      expect(await fresh.missing(tenant, ['a', 'b', 'c', 'd', 'c'])).toEqual(new Set(['c', 'd']));
      expect(fresh.stats().queries).toBe(before + 1);
      // Known ids are not asked about again; unknown ones are (they may have been created since).
      expect(await fresh.missing(tenant, ['a', 'b'])).toEqual(new Set());
      expect(fresh.stats().queries).toBe(before + 1);
      await templates.create(tenant, { id: 'c', text: 'c' });
      expect(await fresh.exists(tenant, 'c')).toBe(true);
    });

    it('lists the latest version of each template, a page at a time', async () => {
      for (const id of ['c', 'a', 'b']) await templates.create(tenant, { id, text: id });
      await templates.create(tenant, { id: 'b', channel: 'sms', text: 'b2' });
      const first = await templates.list(tenant, { limit: 2 });
      expect(first.templates.map((t) => [t.id, t.latestVersion, t.channel])).toEqual([
        ['a', 1, null],
        ['b', 2, 'sms'],
      ]);
      expect(first.next).toBe('b');
      const second = await templates.list(tenant, { limit: 2, after: 'b' });
      expect(second.templates.map((t) => t.id)).toEqual(['c']);
      expect(second.next).toBeNull();
      expect((await templates.list(`${tenant}-none`)).templates).toEqual([]);
    });
  });

  describe('rendering', () => {
    it('renders vars and the recipient, escaping outputs in html only', async () => {
      await templates.create(tenant, {
        id: 'order',
        channel: 'email',
        subject: 'Order {{ order.number }} & more',
        text: 'Hi {{ name }}, {{ recipient.email }}',
        html: '<p>Hi {{ name }}</p>',
      });
      const rendered = await templates.render(
        tenant,
        { id: 'order', vars: { name: 'Tom & <Jerry>', order: { number: 42 } } },
        ada,
        { channel: 'email' },
      );
      expect(rendered).toEqual({
        subject: 'Order 42 & more',
        text: 'Hi Tom & <Jerry>, ada@example.com',
        html: '<p>Hi Tom &amp; &lt;Jerry&gt;</p>',
      });
    });

    it('renders a pinned version, and the latest otherwise', async () => {
      await templates.create(tenant, { id: 'w', text: 'one {{ x }}' });
      await templates.create(tenant, { id: 'w', text: 'two {{ x }}' });
      expect((await templates.render(tenant, { id: 'w', vars: { x: 1 } }, ada)).text).toBe('two 1');
      expect((await templates.render(tenant, { id: 'w', version: 1, vars: { x: 1 } }, ada)).text).toBe('one 1');
    });

    it('fails a missing variable with a TemplateRenderError that names it', async () => {
      await templates.create(tenant, { id: 'greet', channel: 'sms', text: 'Hi {{ first_name }}, code {{ code }}' });
      const error = await rejection(templates.render(tenant, { id: 'greet', vars: { code: '123' } }, ada));
      expect(error).toBeInstanceOf(TemplateRenderError);
      expect(error).toMatchObject({ reason: 'missing-variable', variable: 'first_name', part: 'text', version: 1 });
      expect((error as Error).message).toContain('variable "first_name" is not defined');
      expect(templates.stats().renderFailures).toBe(1);
    });

    it('fails a template that does not exist, or is for another channel, as a TemplateRenderError', async () => {
      expect(await rejection(templates.render(tenant, { id: 'ghost' }, ada))).toMatchObject({
        name: 'TemplateRenderError',
        reason: 'not-found',
        message: 'template ghost does not exist',
      });
      await templates.create(tenant, { id: 'mail', channel: 'email', html: '<p>x</p>' });
      expect(await rejection(templates.render(tenant, { id: 'mail', version: 9 }, ada))).toMatchObject({
        reason: 'not-found',
        message: 'template mail version 9 does not exist',
      });
      for (const version of [0, 1.5, 2 ** 40]) {
        expect(await rejection(templates.render(tenant, { id: 'mail', version }, ada))).toMatchObject({
          reason: 'not-found',
        });
        expect(await templates.get(tenant, 'mail', version)).toBeNull();
      }
      expect(await rejection(templates.render(tenant, { id: 'mail' }, ada, { channel: 'sms' }))).toMatchObject({
        reason: 'wrong-channel',
        message: 'template mail v1 is for channel email, not sms',
      });
      await templates.create(tenant, { id: 'any', html: '<p>x</p>' });
      expect(await rejection(templates.render(tenant, { id: 'any' }, ada, { channel: 'push' }))).toMatchObject({
        reason: 'wrong-channel',
        message: 'template any v1 cannot be sent: channel push needs text',
      });
    });
  });

  describe('cache', () => {
    it('renders a cached version without querying or parsing again', async () => {
      await templates.create(tenant, { id: 'camp', text: 'Hi {{ recipient.id }}' });
      const cold = new TemplateStore(store.database.pool, { clock, latestTtlMs: 5_000 });
      expect((await cold.render(tenant, { id: 'camp', version: 1 }, ada)).text).toBe('Hi user-1');
      expect(cold.stats()).toMatchObject({ queries: 1, parses: 1, cacheMisses: 1, cacheHits: 0, cached: 1 });
      for (let i = 0; i < 100; i++) await cold.render(tenant, { id: 'camp', version: 1 }, { id: `u${i}` });
      expect(cold.stats()).toMatchObject({ queries: 1, parses: 1, cacheMisses: 1, cacheHits: 100 });
    });

    it('trusts the latest version for latestTtlMs, then asks again without re-parsing', async () => {
      await templates.create(tenant, { id: 'camp', text: 'v1' });
      const cold = new TemplateStore(store.database.pool, { clock, latestTtlMs: 5_000 });
      await cold.render(tenant, { id: 'camp' }, ada);
      await cold.render(tenant, { id: 'camp' }, ada);
      expect(cold.stats()).toMatchObject({ queries: 1, parses: 1, cacheHits: 1 });
      clock.advance(5_000);
      expect((await cold.render(tenant, { id: 'camp' }, ada)).text).toBe('v1');
      expect(cold.stats()).toMatchObject({ queries: 2, parses: 1 });
      // Another process adds v2: seen once the latest is asked for again.
      await templates.create(tenant, { id: 'camp', text: 'v2' });
      expect((await cold.render(tenant, { id: 'camp' }, ada)).text).toBe('v1');
      clock.advance(5_000);
      expect((await cold.render(tenant, { id: 'camp' }, ada)).text).toBe('v2');
      expect(cold.stats()).toMatchObject({ queries: 3, parses: 2 });
    });

    it('serves a version created through the store at once, parsed at creation', async () => {
      await templates.create(tenant, { id: 'fresh', text: 'one' });
      await templates.render(tenant, { id: 'fresh' }, ada);
      await templates.create(tenant, { id: 'fresh', text: 'two' });
      const before = templates.stats();
      expect((await templates.render(tenant, { id: 'fresh' }, ada)).text).toBe('two');
      expect(templates.stats()).toMatchObject({ queries: before.queries, parses: before.parses });
    });

    it('loads a template once for a burst of concurrent renders', async () => {
      await templates.create(tenant, { id: 'burst', text: '{{ recipient.id }}' });
      const cold = new TemplateStore(store.database.pool, { clock });
      const rendered = await Promise.all(
        Array.from({ length: 50 }, (_, i) => cold.render(tenant, { id: 'burst', version: 1 }, { id: `u${i}` })),
      );
      expect(rendered.map((r) => r.text)).toEqual(Array.from({ length: 50 }, (_, i) => `u${i}`));
      expect(cold.stats()).toMatchObject({ queries: 1, parses: 1 });
    });

    it('stays within its bound, dropping the least recently used version', async () => {
      const small = new TemplateStore(store.database.pool, { clock, cacheSize: 2 });
      for (const id of ['x', 'y', 'z']) await small.create(tenant, { id, text: id });
      expect(small.stats()).toMatchObject({ cached: 2, evictions: 1 });
      const before = small.stats();
      expect((await small.render(tenant, { id: 'x', version: 1 }, ada)).text).toBe('x');
      expect(small.stats()).toMatchObject({ queries: before.queries + 1, parses: before.parses + 1, cached: 2 });
    });
  });

  describe('route /v1/templates', () => {
    let app: Hono;

    beforeEach(() => {
      const v1 = new Hono<{ Variables: { principal: string } }>();
      v1.use(async (c, next) => {
        c.set('principal', c.req.header('x-test-tenant') ?? tenant);
        await next();
      });
      v1.route('/templates', templatesRoute({ templates, maxBodyBytes: 4_096 }));
      app = new Hono();
      app.route('/v1', v1);
      app.onError((error, c) => {
        if (error instanceof ProblemError) return problemResponse(c, error);
        throw error;
      });
    });

    const post = (body: unknown, headers: Record<string, string> = {}) =>
      app.request('/v1/templates', {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: typeof body === 'string' ? body : JSON.stringify(body),
      });

    it('creates versions: 201 with the id, the version and a Location', async () => {
      const first = await post({
        id: 'welcome',
        channel: 'email',
        subject: 'Hi {{ name }}',
        html: '<p>{{ name }}</p>',
      });
      expect(first.status).toBe(201);
      expect(await first.json()).toEqual({ id: 'welcome', version: 1 });
      expect(first.headers.get('location')).toBe('/v1/templates/welcome?version=1');
      const second = await post({ id: 'welcome', channel: 'email', text: 'Hi {{ name }}' });
      expect(await second.json()).toEqual({ id: 'welcome', version: 2 });
    });

    it('answers a Liquid syntax error with 400 naming the part, message and line', async () => {
      const response = await post({ id: 'bad', text: 'ok', html: '<p>\n\n{{ name </p>' });
      expect(response.status).toBe(400);
      expect(response.headers.get('content-type')).toBe('application/problem+json');
      expect(await response.json()).toMatchObject({
        type: 'https://switchboard.dev/problems/template-syntax',
        status: 400,
        part: 'html',
        line: 3,
        column: 1,
        liquidMessage: 'output "{{ name </p>" not closed',
        detail: 'html: output "{{ name </p>" not closed (line 3, column 1)',
      });
    });

    it('answers invalid bodies with 400, 413 and 415 problems', async () => {
      const invalid = await post({ id: 'x', channel: 'sms', subject: 'no text' });
      expect(invalid.status).toBe(400);
      expect(await invalid.json()).toMatchObject({
        type: 'https://switchboard.dev/problems/invalid-template',
        errors: [{ path: 'text', message: 'text is required for channel sms' }],
      });
      expect((await post({ id: 'x', text: 'y', extra: 1 })).status).toBe(400);
      expect((await post('{"id":')).status).toBe(400);
      expect((await post({ id: 'big', text: 'x'.repeat(5_000) })).status).toBe(413);
      const wrongType = await app.request('/v1/templates', { method: 'POST', body: '{}' });
      expect(wrongType.status).toBe(415);
    });

    it('reads the latest version, a given version, or 404', async () => {
      await post({ id: 'receipt', channel: 'sms', text: 'one' });
      await post({ id: 'receipt', channel: 'sms', text: 'two' });
      const latest = await app.request('/v1/templates/receipt');
      expect(latest.status).toBe(200);
      expect(await latest.json()).toMatchObject({
        id: 'receipt',
        version: 2,
        channel: 'sms',
        text: 'two',
        subject: null,
      });
      expect(await (await app.request('/v1/templates/receipt?version=1')).json()).toMatchObject({
        version: 1,
        text: 'one',
      });

      const noVersion = await app.request('/v1/templates/receipt?version=3');
      expect(noVersion.status).toBe(404);
      expect(await noVersion.json()).toMatchObject({ detail: 'template receipt has no version 3' });
      expect((await app.request('/v1/templates/ghost')).status).toBe(404);
      expect((await app.request('/v1/templates/receipt?version=abc')).status).toBe(400);
      expect((await app.request('/v1/templates/receipt?version=0')).status).toBe(400);
      // Another tenant does not see it.
      expect(
        (await app.request('/v1/templates/receipt', { headers: { 'x-test-tenant': 'someone-else' } })).status,
      ).toBe(404);
    });

    it('lists the tenant’s templates', async () => {
      await post({ id: 'b', text: 'b' });
      await post({ id: 'a', text: 'a' });
      const response = await app.request('/v1/templates?limit=1');
      expect(response.status).toBe(200);
      const page = (await response.json()) as { templates: Array<{ id: string }>; next: string | null };
      expect(page.templates.map((t) => t.id)).toEqual(['a']);
      expect(page.next).toBe('a');
      const rest = (await (await app.request('/v1/templates?after=a')).json()) as { templates: Array<{ id: string }> };
      expect(rest.templates.map((t) => t.id)).toEqual(['b']);
      expect((await app.request('/v1/templates?limit=100000')).status).toBe(400);
    });
  });
});
