// Errors of templates: refused at creation (invalid input, Liquid syntax), missing, or failing to render.
import type { InvalidField } from '../messages/sendRequest.ts';
import type { TemplatePart } from './templateInput.ts';

/** The input of a create does not match the template schema (an id, a channel, the parts it needs). */
export class TemplateInvalidError extends Error {
  /** One `{ path, message }` per problem, as in the messages API. */
  readonly errors: readonly InvalidField[];
  constructor(errors: readonly InvalidField[]) {
    super(`invalid template: ${errors.map((error) => `${error.path}: ${error.message}`).join('; ')}`);
    this.name = 'TemplateInvalidError';
    this.errors = errors;
  }
}

/** A part of a template is not valid Liquid; nothing was stored. */
export class TemplateParseError extends Error {
  readonly part: TemplatePart;
  /** Liquid's own message, without its position suffix. */
  readonly liquidMessage: string;
  /** 1-based line and column within the part, when Liquid said. */
  readonly line: number | undefined;
  readonly column: number | undefined;
  constructor(
    part: TemplatePart,
    liquidMessage: string,
    position: { line: number | undefined; column: number | undefined },
    options?: { cause?: unknown },
  ) {
    const where = position.line === undefined ? '' : ` (line ${position.line}, column ${position.column ?? '?'})`;
    super(`${part}: ${liquidMessage}${where}`, options);
    this.name = 'TemplateParseError';
    this.part = part;
    this.liquidMessage = liquidMessage;
    this.line = position.line;
    this.column = position.column;
  }
}

/** No such template (or no such version of it) for the tenant. */
export class TemplateNotFoundError extends Error {
  readonly tenant: string;
  readonly templateId: string;
  readonly version: number | undefined;
  constructor(tenant: string, templateId: string, version?: number) {
    super(
      version === undefined
        ? `template ${templateId} does not exist`
        : `template ${templateId} has no version ${version}`,
    );
    this.name = 'TemplateNotFoundError';
    this.tenant = tenant;
    this.templateId = templateId;
    this.version = version;
  }
}

/** Two creates of one id kept taking the same version number; the caller may retry. */
export class TemplateVersionConflictError extends Error {
  readonly templateId: string;
  constructor(templateId: string, attempts: number) {
    super(`template ${templateId}: could not take a new version number after ${attempts} attempts; retry`);
    this.name = 'TemplateVersionConflictError';
    this.templateId = templateId;
  }
}

export type TemplateRenderFailure =
  /** A variable the template uses was not given (strict variables). */
  | 'missing-variable'
  /** The template or the version asked for does not exist. */
  | 'not-found'
  /** The template is for another channel, or lacks the part the channel needs. */
  | 'wrong-channel'
  /** Liquid failed while rendering (a filter's error, a render limit exceeded). */
  | 'render-failed';

/**
 * A message's template cannot be rendered. Permanent: the same template and variables fail again, so
 * the message is `failed` with this message as its reason, never retried.
 */
export class TemplateRenderError extends Error {
  readonly reason: TemplateRenderFailure;
  readonly templateId: string;
  readonly version: number | undefined;
  readonly part: TemplatePart | undefined;
  /** The missing variable's path as written in the template (`first_name`, `order.total`). */
  readonly variable: string | undefined;
  readonly line: number | undefined;
  readonly column: number | undefined;
  constructor(
    message: string,
    fields: {
      reason: TemplateRenderFailure;
      templateId: string;
      version?: number | undefined;
      part?: TemplatePart | undefined;
      variable?: string | undefined;
      line?: number | undefined;
      column?: number | undefined;
      cause?: unknown;
    },
  ) {
    super(message, { cause: fields.cause });
    this.name = 'TemplateRenderError';
    this.reason = fields.reason;
    this.templateId = fields.templateId;
    this.version = fields.version;
    this.part = fields.part;
    this.variable = fields.variable;
    this.line = fields.line;
    this.column = fields.column;
  }
}
