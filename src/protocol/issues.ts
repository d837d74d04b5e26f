// Readable validation issues, one rule for every transport: TypeBox's compiled check, with
// its issues rewritten into one readable issue per field ("is required", "is not allowed
// (unknown field)", "must be an integer from 1 to 200", "must be one of: group, channel")
// read off the schema itself. HTTP (src/api/validation.ts), WebSocket frames
// (src/gateway/client-frames.ts) and the domain's input check all say the same words.
import type { TSchema } from 'typebox';
import { Compile } from 'typebox/compile';

/** One TypeBox validation error (typebox/compile `Errors`). */
export interface RawIssue {
  keyword: string;
  schemaPath: string;
  instancePath: string;
  params: Record<string, unknown>;
  message: string;
}

export interface Issue {
  instancePath: string;
  message: string;
  keyword: string;
}

type Node = Record<string, unknown>;

const pointerKey = (key: string) => key.replaceAll('~', '~0').replaceAll('/', '~1');

/** The sub-schema at a `#/properties/a/items` pointer. */
function at(schema: unknown, pointer: string): Node {
  let node = schema as Node | undefined;
  for (const raw of pointer.replace(/^#\/?/, '').split('/')) {
    if (raw === '' || node === undefined) continue;
    node = node[raw.replaceAll('~1', '/').replaceAll('~0', '~')] as Node | undefined;
  }
  return node ?? {};
}

const TYPE_NAME: Record<string, string> = {
  string: 'a string',
  integer: 'an integer',
  number: 'a number',
  boolean: 'a boolean (true or false)',
  array: 'an array',
  object: 'an object',
  null: 'null',
};

const num = (v: unknown) => (typeof v === 'number' ? v : undefined);

/** "an integer from 1 to 200", "an integer of at least 0", "an integer". */
function numberText(s: Node): string {
  const name = TYPE_NAME[String(s.type)] ?? 'a number';
  const min = num(s.minimum);
  const max = num(s.maximum);
  if (min !== undefined && max !== undefined) return `${name} from ${min} to ${max}`;
  if (min !== undefined) return `${name} of at least ${min}`;
  if (max !== undefined) return `${name} of at most ${max}`;
  return name;
}

/** How one member of a union reads in "must be one of: …". */
function alternative(s: Node): string {
  if ('const' in s) return JSON.stringify(s.const);
  if (Array.isArray(s.enum)) return s.enum.map((v) => JSON.stringify(v)).join(', ');
  if (s.type === 'array') return 'an array';
  return TYPE_NAME[String(s.type)] ?? 'a valid value';
}

function lengthText(s: Node): string {
  const min = num(s.minLength);
  const max = num(s.maxLength);
  if (min !== undefined && max !== undefined) return `must be ${min} to ${max} characters long`;
  if (min === 1) return 'must not be empty';
  if (min !== undefined) return `must be at least ${min} characters long`;
  return `must be at most ${max} characters long`;
}

function itemsText(s: Node): string {
  const min = num(s.minItems);
  const max = num(s.maxItems);
  if (min !== undefined && max !== undefined) return `must have ${min} to ${max} items`;
  if (min !== undefined) return `must have at least ${min} item${min === 1 ? '' : 's'}`;
  return `must have at most ${max} items`;
}

/** One raw issue as zero or more readable ones. */
function rewrite(schema: TSchema, raw: RawIssue): Issue[] {
  const s = at(schema, raw.schemaPath);
  const issue = (message: string, instancePath = raw.instancePath) => ({
    instancePath,
    message,
    keyword: raw.keyword,
  });
  switch (raw.keyword) {
    case 'required':
      return ((raw.params.requiredProperties as string[] | undefined) ?? []).map((k) =>
        issue('is required', `${raw.instancePath}/${pointerKey(k)}`),
      );
    case 'additionalProperties':
      return ((raw.params.additionalProperties as string[] | undefined) ?? []).map((k) =>
        issue('is not allowed (unknown field)', `${raw.instancePath}/${pointerKey(k)}`),
      );
    case 'boolean':
      return []; // `schema is false` of an unknown field: said by additionalProperties
    case 'type':
      if (s.type === 'integer' || s.type === 'number') return [issue(`must be ${numberText(s)}`)];
      return [issue(`must be ${TYPE_NAME[String(s.type)] ?? String(s.type)}`)];
    case 'minimum':
    case 'maximum':
    case 'exclusiveMinimum':
    case 'exclusiveMaximum':
      return [issue(`must be ${numberText(s)}`)];
    case 'minLength':
    case 'maxLength':
      return [issue(lengthText(s))];
    case 'pattern':
      return [issue(`must match the pattern ${String(s.pattern)}`)];
    case 'minItems':
    case 'maxItems':
      return [issue(itemsText(s))];
    case 'enum':
      return [issue(`must be one of: ${alternative(s)}`)];
    case 'anyOf':
      return [
        issue(`must be one of: ${((s.anyOf as Node[] | undefined) ?? []).map(alternative).join(', ')}`),
      ];
    default:
      return [issue(raw.message)];
  }
}

/** The readable issues for TypeBox's raw ones: a union's member failures fold into its own. */
export function readableIssues(schema: TSchema, raw: RawIssue[]): Issue[] {
  const unions = raw.filter((r) => r.keyword === 'anyOf').map((r) => `${r.schemaPath}/anyOf/`);
  const kept = raw.filter((r) => !unions.some((u) => r.schemaPath.startsWith(u)));
  const seen = new Set<string>();
  const out: Issue[] = [];
  for (const issue of kept.flatMap((r) => rewrite(schema, r))) {
    const key = `${issue.instancePath} ${issue.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(issue);
  }
  return out.length > 0
    ? out
    : raw.map((r) => ({ instancePath: r.instancePath, message: r.message, keyword: r.keyword }));
}

const PART: Record<string, string> = {
  querystring: 'query',
  params: 'params',
  headers: 'headers',
  body: 'body',
};

/** A JSON pointer's segments as people read them: `/attachments/0/url` → `attachments[0].url`. */
export function readablePointer(pointer: string): string {
  let out = '';
  for (const raw of pointer.split('/')) {
    if (raw === '') continue;
    const seg = raw.replaceAll('~1', '/').replaceAll('~0', '~');
    out += /^\d+$/.test(seg) ? `[${seg}]` : out === '' ? seg : `.${seg}`;
  }
  return out;
}

/**
 * A details path (`querystring/limit`, `body/attachments/0/url`: the stable, documented form)
 * as people read it: `query.limit`, `body.attachments[0].url`.
 */
export function readablePath(path: string): string {
  const slash = path.indexOf('/');
  const part = slash < 0 ? path || 'body' : path.slice(0, slash);
  const rest = slash < 0 ? '' : readablePointer(path.slice(slash));
  const head = PART[part] ?? part;
  return rest === '' ? head : rest.startsWith('[') ? `${head}${rest}` : `${head}.${rest}`;
}

/** The VALIDATION_FAILED message for issues: each says where and what, at most three. */
export function validationMessage(issues: { path: string; message: string }[]): string | undefined {
  if (issues.length === 0) return undefined;
  const shown = issues.slice(0, 3).map((i) => `${readablePath(i.path)} ${i.message}`);
  const more = issues.length > 3 ? ` (and ${issues.length - 3} more)` : '';
  return `${shown.join('; ')}${more}`;
}

/**
 * Issues in one sentence, fields named from `root`: `send.body must be a string`, or with
 * no root `attachments[0].url must match …`; at most three.
 */
export function issuesMessage(issues: Issue[], root = ''): string {
  const shown = issues.slice(0, 3).map((i) => {
    const field = readablePointer(i.instancePath);
    const where =
      root === '' || field === '' || field.startsWith('[') ? `${root}${field}` : `${root}.${field}`;
    return `${where || 'value'} ${i.message}`;
  });
  const more = issues.length > 3 ? ` (and ${issues.length - 3} more)` : '';
  return `${shown.join('; ')}${more}`;
}

/** A compiled check of `schema`: null when the value conforms, else its readable issues. */
export function compileCheck(schema: TSchema): (value: unknown) => Issue[] | null {
  const compiled = Compile(schema);
  return (value) =>
    compiled.Check(value) ? null : readableIssues(schema, compiled.Errors(value) as unknown as RawIssue[]);
}
