import { describe, expect, it } from 'vitest';
import { TemplateEngine } from '../../runtime/templates/TemplateEngine.ts';
import { TemplateParseError, TemplateRenderError } from '../../runtime/templates/TemplateError.ts';

const recipient = { id: 'user-42', email: 'ada@example.com' };
const subject = { templateId: 'welcome', version: 3 };

async function renderError(promise: Promise<unknown>): Promise<TemplateRenderError> {
  const error: unknown = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(TemplateRenderError);
  return error as TemplateRenderError;
}

function parseError(run: () => unknown): TemplateParseError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(TemplateParseError);
    return error as TemplateParseError;
  }
  throw new Error('expected a TemplateParseError');
}

describe('TemplateEngine rendering', () => {
  const engine = new TemplateEngine();

  it('renders vars as top-level names and the recipient as `recipient`', async () => {
    const parts = engine.compile({
      subject: 'Hello {{ first_name }}',
      text: 'Order {{ order.number }} for {{ recipient.email }} ({{ recipient.id }})',
      html: '<p>{{ first_name | upcase }}</p>',
    });
    const rendered = await engine.render(parts, { first_name: 'Ada', order: { number: 7 } }, recipient, subject);
    expect(rendered).toEqual({
      subject: 'Hello Ada',
      text: 'Order 7 for ada@example.com (user-42)',
      html: '<p>ADA</p>',
    });
  });

  it('renders only the parts the template has', async () => {
    const rendered = await engine.render(engine.compile({ text: 'hi' }), undefined, recipient, subject);
    expect(rendered).toEqual({ text: 'hi' });
  });

  it('escapes every output of the html part, unless it ends with `| raw`', async () => {
    const parts = engine.compile({
      subject: 'Re: {{ name }}',
      text: '{{ name }}',
      html: '<p>{{ name }}</p><p>{{ name | append: "&" }}</p><div>{{ snippet | raw }}</div>',
    });
    const rendered = await engine.render(
      parts,
      { name: '<b>Tom & "Jerry"</b>', snippet: '<em>trusted</em>' },
      recipient,
      subject,
    );
    expect(rendered.html).toBe(
      '<p>&lt;b&gt;Tom &amp; &#34;Jerry&#34;&lt;/b&gt;</p><p>&lt;b&gt;Tom &amp; &#34;Jerry&#34;&lt;/b&gt;&amp;</p><div><em>trusted</em></div>',
    );
    // Subject and text are not HTML: they keep the value as given.
    expect(rendered.subject).toBe('Re: <b>Tom & "Jerry"</b>');
    expect(rendered.text).toBe('<b>Tom & "Jerry"</b>');
  });

  it('gives the recipient precedence over a variable named `recipient`', async () => {
    const parts = engine.compile({ text: '{{ recipient.id }}' });
    const rendered = await engine.render(parts, { recipient: { id: 'spoofed' } }, recipient, subject);
    expect(rendered.text).toBe('user-42');
  });

  it('fails on a missing variable with an error naming it, the part and the position', async () => {
    const parts = engine.compile({ subject: 'Hi', html: '<p>\n  {{ first_name }}</p>' });
    const error = await renderError(engine.render(parts, { last_name: 'Lovelace' }, recipient, subject));
    expect(error).toMatchObject({
      reason: 'missing-variable',
      variable: 'first_name',
      part: 'html',
      templateId: 'welcome',
      version: 3,
      line: 2,
      column: 6,
    });
    expect(error.message).toBe(
      'template welcome v3: variable "first_name" is not defined; the html uses it (line 2, column 6); pass it in template.vars',
    );
  });

  it('names a missing property path, a missing recipient field and one inside a loop', async () => {
    const cases: Array<[string, string]> = [
      ['{{ order.total }}', 'order.total'],
      ['{{ recipient.phone }}', 'recipient.phone'],
      ['{% for item in items %}{{ item.sku }}{% endfor %}', 'item.sku'],
      ['{{ "x" | append: suffix }}', 'suffix'],
    ];
    for (const [text, variable] of cases) {
      const error = await renderError(
        engine.render(engine.compile({ text }), { order: {}, items: [{}] }, recipient, subject),
      );
      expect(error.variable).toBe(variable);
      expect(error.message).toContain(`"${variable}"`);
    }
  });

  it('lets `if` and `default` test an optional variable', async () => {
    const parts = engine.compile({
      text: '{% if coupon %}Use {{ coupon }}{% else %}No coupon{% endif %}, {{ nickname | default: "friend" }}',
    });
    expect((await engine.render(parts, {}, recipient, subject)).text).toBe('No coupon, friend');
    expect((await engine.render(parts, { coupon: 'SPRING' }, recipient, subject)).text).toBe('Use SPRING, friend');
  });

  it('does not reach through prototypes', async () => {
    const error = await renderError(
      engine.render(engine.compile({ text: '{{ recipient.constructor }}' }), {}, recipient, subject),
    );
    expect(error.variable).toBe('recipient.constructor');
  });

  it('stops a render past its limits as a render failure', async () => {
    const limited = new TemplateEngine({ memoryLimit: 10_000 });
    const parts = limited.compile({ text: '{% for i in (1..100000000) %}{{ i }}{% endfor %}' });
    const error = await renderError(limited.render(parts, {}, recipient, subject));
    expect(error.reason).toBe('render-failed');
    expect(error.part).toBe('text');
    expect(error.message).toMatch(/^template welcome v3: the text failed to render: .*limit/);
  });

  it('refuses nonsensical limits', () => {
    expect(() => new TemplateEngine({ renderLimitMs: 0 })).toThrow(RangeError);
  });
});

describe('TemplateEngine parsing', () => {
  const engine = new TemplateEngine();

  it('refuses an unclosed output with the part, Liquid message, line and column', () => {
    const error = parseError(() => engine.compile({ subject: 'ok', text: 'line one\nHello {{ name ' }));
    expect(error).toMatchObject({ part: 'text', line: 2, column: 7, liquidMessage: 'output "{{ name " not closed' });
    expect(error.message).toBe('text: output "{{ name " not closed (line 2, column 7)');
  });

  it('refuses an unclosed tag, an unknown tag and an unknown filter', () => {
    expect(parseError(() => engine.compile({ html: '{% if a %}x' })).liquidMessage).toBe('tag {% if a %} not closed');
    expect(parseError(() => engine.compile({ html: '{% frobnicate %}' })).liquidMessage).toBe(
      'tag "frobnicate" not found',
    );
    expect(parseError(() => engine.compile({ subject: '{{ a | nosuchfilter }}' })).liquidMessage).toBe(
      'undefined filter: nosuchfilter',
    );
  });

  it('reports the first failing part in the order subject, text, html', () => {
    expect(parseError(() => engine.compile({ subject: '{{', html: '{%' })).part).toBe('subject');
    expect(parseError(() => engine.compile({ subject: 'fine', text: 'fine', html: '{{ x' })).part).toBe('html');
  });

  it('refuses tags that would read templates from the file system', () => {
    for (const tag of ['{% include "package.json" %}', '{% render "package.json" %}', '{% layout "x" %}']) {
      const error = parseError(() => engine.compile({ text: tag }));
      expect(error.liquidMessage).toMatch(/tag is not available in templates$/);
    }
    expect(parseError(() => engine.compile({ text: '{% liquid\n  include "x"\n%}' })).liquidMessage).toBe(
      'the include tag is not available in templates',
    );
  });
});
