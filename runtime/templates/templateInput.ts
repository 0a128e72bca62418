// What a template is made of when it is created: an id, an optional channel, and its Liquid parts.
import { z } from 'zod';
import { CHANNELS, type Channel } from '../messages/sendRequest.ts';

export const TEMPLATE_PARTS = ['subject', 'text', 'html'] as const;
export type TemplatePart = (typeof TEMPLATE_PARTS)[number];

/** Letters, digits and `. _ : -`, starting with a letter or digit: safe in a URL path as it is. */
export const TEMPLATE_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]*$/;
export const MAX_TEMPLATE_ID_LENGTH = 256;

/** The Liquid sources of a template; an absent part is not rendered. */
export type TemplateSources = {
  readonly subject?: string | undefined;
  readonly text?: string | undefined;
  readonly html?: string | undefined;
};

export const templateInputSchema = z
  .object({
    id: z
      .string()
      .min(1)
      .max(MAX_TEMPLATE_ID_LENGTH)
      .regex(TEMPLATE_ID, { message: 'letters, digits and . _ : - only, starting with a letter or digit' }),
    channel: z.enum(CHANNELS).optional(),
    // The same limits as a message's own content.
    subject: z.string().max(998).optional(),
    text: z.string().max(512_000).optional(),
    html: z.string().max(512_000).optional(),
  })
  .strict()
  .superRefine((input, ctx) => {
    const issue = (path: string, message: string) => ctx.addIssue({ code: 'custom', path: [path], message });
    if (input.channel === undefined) {
      if (input.text === undefined && input.html === undefined) issue('text', 'a template needs text or html');
    } else if (input.channel === 'email') {
      if (input.text === undefined && input.html === undefined) issue('text', 'an email template needs text or html');
    } else if (input.text === undefined) {
      issue('text', `text is required for channel ${input.channel}`);
    }
  });

export type TemplateInput = z.input<typeof templateInputSchema>;

/** Which parts a message on `channel` needs: email text or html, every other channel text. */
export function missingPartFor(
  channel: Channel,
  parts: Partial<Readonly<Record<TemplatePart, unknown>>>,
): string | undefined {
  if (channel === 'email') {
    return parts.text === undefined && parts.html === undefined ? 'an email needs text or html' : undefined;
  }
  return parts.text === undefined ? `channel ${channel} needs text` : undefined;
}
