// Masks email addresses and phone numbers wherever they appear in log output, so logs never carry
// a recipient's contact details.

const EMAIL = /([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9-])[A-Za-z0-9.-]*(\.[A-Za-z]{2,})/g;
// E.164 and common national formats: a run of 8+ digits with optional +, spaces, dots, dashes, parens.
const PHONE = /(?<![\w-])\+?\d(?:[\s().-]*\d){7,14}(?![\w-])/g;

/** `jane.doe@example.com` → `j***@e***.com`; `+44 7700 900123` → `+*********23`. */
export function maskText(text: string): string {
  return text
    .replace(EMAIL, (_m, first: string, domainFirst: string, tld: string) => `${first}***@${domainFirst}***${tld}`)
    .replace(PHONE, (match) => {
      const digits = match.replace(/\D/g, '');
      return `${match.startsWith('+') ? '+' : ''}${'*'.repeat(Math.max(digits.length - 2, 0))}${digits.slice(-2)}`;
    });
}

/** Returns a copy of `value` with every string masked; leaves numbers, booleans and nulls alone. */
export function maskPersonalData(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return maskText(value);
  if (value === null || typeof value !== 'object' || depth > 8) return value;
  if (value instanceof Error) {
    return {
      type: value.name,
      message: maskText(value.message),
      stack: value.stack ? maskText(value.stack) : undefined,
    };
  }
  if (Array.isArray(value)) return value.map((item) => maskPersonalData(item, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) out[key] = maskPersonalData(item, depth + 1);
  return out;
}
