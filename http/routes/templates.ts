// /v1/templates: create a version of a tenant's Liquid template, read one (latest or a given version),
// list them. Mounted behind API-key auth, which puts the tenant in `principal`.
import { Hono, type MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { describeIssues } from '../../runtime/messages/sendRequest.ts';
import {
  TemplateInvalidError,
  TemplateParseError,
  TemplateVersionConflictError,
} from '../../runtime/templates/TemplateError.ts';
import { templateInputSchema } from '../../runtime/templates/templateInput.ts';
import { MAX_LIST_LIMIT, type TemplateStore } from '../../runtime/templates/TemplateStore.ts';
import { ProblemError } from '../problem.ts';
import { readJson } from './messages.ts';

export type TemplatesRouteDeps = {
  readonly templates: Pick<TemplateStore, 'create' | 'get' | 'list'>;
  /** Largest accepted body of `POST /`; default 1,100,000 bytes (a subject and two 512,000-character parts). */
  readonly maxBodyBytes?: number;
};

type Env = { Variables: { principal: string } };

function limit(maxSize: number): MiddlewareHandler {
  return bodyLimit({
    maxSize,
    onError: () => {
      throw new ProblemError(413, 'payload-too-large', 'Payload too large', `the body is larger than ${maxSize} bytes`);
    },
  });
}

function invalid(errors: ReturnType<typeof describeIssues>): ProblemError {
  return new ProblemError(400, 'invalid-template', 'Invalid template', errors[0]?.message, { extensions: { errors } });
}

/** A positive integer from a query parameter, or a 400 naming the parameter. */
function integerParam(name: string, raw: string | undefined, max: number): number | undefined {
  if (raw === undefined) return undefined;
  const value = /^\d{1,10}$/.test(raw) ? Number(raw) : NaN;
  if (!(value >= 1 && value <= max)) {
    throw new ProblemError(400, 'invalid-query', 'Invalid query', `${name} must be an integer from 1 to ${max}`, {
      extensions: { errors: [{ path: name, message: `an integer from 1 to ${max}` }] },
    });
  }
  return value;
}

export function templatesRoute(deps: TemplatesRouteDeps): Hono<Env> {
  const app = new Hono<Env>();
  const { templates } = deps;

  app.post('/', limit(deps.maxBodyBytes ?? 1_100_000), async (c) => {
    const parsed = templateInputSchema.safeParse(await readJson(c.req.raw));
    if (!parsed.success) throw invalid(describeIssues(parsed.error));
    try {
      const created = await templates.create(c.get('principal'), parsed.data);
      c.header('Location', `/v1/templates/${encodeURIComponent(created.id)}?version=${created.version}`);
      return c.json({ id: created.id, version: created.version }, 201);
    } catch (error) {
      if (error instanceof TemplateInvalidError) throw invalid([...error.errors]);
      if (error instanceof TemplateParseError) {
        throw new ProblemError(400, 'template-syntax', 'Template syntax error', error.message, {
          extensions: {
            part: error.part,
            line: error.line ?? null,
            column: error.column ?? null,
            liquidMessage: error.liquidMessage,
          },
          cause: error,
        });
      }
      if (error instanceof TemplateVersionConflictError) {
        throw new ProblemError(409, 'version-conflict', 'Conflict', error.message, {
          headers: { 'Retry-After': '1' },
          cause: error,
        });
      }
      throw error;
    }
  });

  app.get('/', async (c) => {
    const pageSize = integerParam('limit', c.req.query('limit'), MAX_LIST_LIMIT);
    const page = await templates.list(c.get('principal'), { after: c.req.query('after'), limit: pageSize });
    return c.json(page, 200);
  });

  app.get('/:id', async (c) => {
    const id = c.req.param('id');
    const version = integerParam('version', c.req.query('version'), 2_147_483_647);
    const template = await templates.get(c.get('principal'), id, version);
    if (template === null) {
      const detail = version === undefined ? `no template ${id}` : `template ${id} has no version ${version}`;
      throw new ProblemError(404, 'not-found', 'Not found', detail);
    }
    return c.json(template, 200);
  });

  return app;
}
