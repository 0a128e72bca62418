// Liquid for tenant templates: parses each part once (refusing bad syntax with its position) and
// renders parsed parts with strict variables. The html part escapes every output by default.
import { Liquid, LiquidError, type Template, UndefinedVariableError } from 'liquidjs';
import { TemplateParseError, TemplateRenderError } from './TemplateError.ts';
import { TEMPLATE_PARTS, type TemplatePart, type TemplateSources } from './templateInput.ts';

/** Parsed parts of one template version; only the parts it has. */
export type CompiledParts = Partial<Readonly<Record<TemplatePart, Template[]>>>;

/** What a template renders to: the parts it has, as strings. */
export type RenderedContent = { subject?: string; text?: string; html?: string };

/** The `to` object of a message; every field is available to a template as `recipient.<field>`. */
export type TemplateRecipient = { readonly id: string } & Readonly<Record<string, unknown>>;

export type TemplateEngineOptions = {
  /** Most milliseconds one part may take to render (Liquid `renderLimit`). Default 1,000. */
  readonly renderLimitMs?: number;
  /** Most allocations one render may make (Liquid `memoryLimit`, counted in array items and string length). Default 10,000,000. */
  readonly memoryLimit?: number;
  /** Most tag, output and text nodes one render may emit (Liquid `templateLimit`). Default 1,000,000. */
  readonly templateLimit?: number;
  /** Time zone of the `date` filter: a name like `Europe/Berlin` or minutes west of UTC. Default UTC. */
  readonly timezone?: string | number;
};

/** Names of what a render is of, for the errors it throws. */
export type RenderSubject = { readonly templateId: string; readonly version?: number | undefined };

// Tags that read other templates from the file system: a tenant's template must never reach the disk.
const REFUSED_TAGS = ['include', 'render', 'layout'] as const;

/**
 * Two Liquid instances over one configuration: Liquid applies `outputEscape` when it parses, so the
 * html part is parsed by an instance that escapes every `{{ }}` output (`| raw` opts out), and the
 * subject and text parts, which are not HTML, by one that does not.
 */
export class TemplateEngine {
  readonly #plain: Liquid;
  readonly #html: Liquid;
  readonly #renderOptions: { renderLimit: number; memoryLimit: number; templateLimit: number };

  constructor(options: TemplateEngineOptions = {}) {
    this.#renderOptions = {
      renderLimit: positive('renderLimitMs', options.renderLimitMs ?? 1_000),
      memoryLimit: positive('memoryLimit', options.memoryLimit ?? 10_000_000),
      templateLimit: positive('templateLimit', options.templateLimit ?? 1_000_000),
    };
    this.#plain = createLiquid(options, false);
    this.#html = createLiquid(options, true);
  }

  /**
   * Parses every part present in `sources`.
   * @throws {TemplateParseError} for the first part (subject, text, html) that is not valid Liquid.
   */
  compile(sources: TemplateSources): CompiledParts {
    const compiled: Partial<Record<TemplatePart, Template[]>> = {};
    for (const part of TEMPLATE_PARTS) {
      const source = sources[part];
      if (source === undefined) continue;
      try {
        compiled[part] = (part === 'html' ? this.#html : this.#plain).parse(source);
      } catch (error) {
        throw toParseError(part, error);
      }
    }
    return compiled;
  }

  /**
   * Renders each parsed part with `vars` as top-level names and `recipient` as `recipient` (which wins
   * over a variable of that name). A variable the template uses but `vars` lacks is an error, except
   * as the condition of `if`/`unless`/`elsif` and before the `default` filter.
   * @throws {TemplateRenderError} `missing-variable` naming the variable, or `render-failed`.
   */
  async render(
    compiled: CompiledParts,
    vars: Readonly<Record<string, unknown>> | undefined,
    recipient: TemplateRecipient,
    subject: RenderSubject,
  ): Promise<RenderedContent> {
    const scope: Record<string, unknown> = { ...vars, recipient };
    const rendered: RenderedContent = {};
    for (const part of TEMPLATE_PARTS) {
      const templates = compiled[part];
      if (templates === undefined) continue;
      const engine = part === 'html' ? this.#html : this.#plain;
      try {
        rendered[part] = String(await engine.render(templates, scope, this.#renderOptions));
      } catch (error) {
        throw toRenderError(part, error, subject);
      }
    }
    return rendered;
  }
}

function createLiquid(options: TemplateEngineOptions, escapeOutput: boolean): Liquid {
  const liquid = new Liquid({
    strictVariables: true,
    lenientIf: true,
    strictFilters: true,
    ownPropertyOnly: true,
    // An empty in-memory file system: nothing is ever looked up on disk, even if a tag tried.
    templates: {},
    timezoneOffset: options.timezone ?? 0,
    parseLimit: 2_000_000,
    ...(escapeOutput ? { outputEscape: 'escape' as const } : {}),
  });
  for (const name of REFUSED_TAGS) {
    liquid.registerTag(name, {
      parse() {
        throw new Error(`the ${name} tag is not available in templates`);
      },
      render() {},
    });
  }
  return liquid;
}

function positive(name: string, value: number): number {
  if (!(Number.isFinite(value) && value > 0)) throw new RangeError(`${name} must be a positive number, got ${value}`);
  return value;
}

type Position = { line: number | undefined; column: number | undefined };

function positionOf(error: LiquidError): Position {
  try {
    const [line, column] = error.token.getPosition();
    return { line, column };
  } catch {
    return { line: undefined, column: undefined };
  }
}

/** Liquid appends `, line:N, col:M` to its messages; the position is reported in fields instead. */
function withoutPosition(message: string): string {
  return message.replace(/, line:\d+, col:\d+$/, '');
}

function toParseError(part: TemplatePart, error: unknown): TemplateParseError {
  if (error instanceof LiquidError) {
    return new TemplateParseError(part, withoutPosition(error.message), positionOf(error), { cause: error });
  }
  const message = error instanceof Error ? error.message : String(error);
  return new TemplateParseError(part, message, { line: undefined, column: undefined }, { cause: error });
}

function toRenderError(part: TemplatePart, error: unknown, subject: RenderSubject): TemplateRenderError {
  const name = subject.version === undefined ? subject.templateId : `${subject.templateId} v${subject.version}`;
  const { line, column } = error instanceof LiquidError ? positionOf(error) : { line: undefined, column: undefined };
  const at = line === undefined ? '' : ` (line ${line}, column ${column ?? '?'})`;
  const common = { templateId: subject.templateId, version: subject.version, part, line, column, cause: error };
  const variable = missingVariable(error);
  if (variable !== undefined) {
    return new TemplateRenderError(
      `template ${name}: variable "${variable}" is not defined; the ${part} uses it${at}; pass it in template.vars`,
      { ...common, reason: 'missing-variable', variable },
    );
  }
  const message = error instanceof Error ? withoutPosition(error.message) : String(error);
  return new TemplateRenderError(`template ${name}: the ${part} failed to render: ${message}${at}`, {
    ...common,
    reason: 'render-failed',
  });
}

/** The variable an UndefinedVariableError (possibly wrapped by a tag's RenderError) is about. */
function missingVariable(error: unknown): string | undefined {
  for (let e: unknown = error, depth = 0; e instanceof LiquidError && depth < 8; depth++) {
    if (e instanceof UndefinedVariableError) {
      const original: unknown = e.originalError;
      if (typeof original === 'object' && original !== null && 'variableName' in original) {
        if (typeof original.variableName === 'string') return original.variableName;
      }
      return /undefined variable: ([^,]+)/.exec(e.message)?.[1];
    }
    e = e.originalError;
  }
  return undefined;
}
