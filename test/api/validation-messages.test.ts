// VALIDATION_FAILED says what is wrong and where: the messages are read from the same schemas
// /openapi.json declares (openapi.test.ts checks the document and the answers against it).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestHerald, type TestHerald } from '../support/herald.ts';
import { backends } from '../support/stores.ts';

describe('VALIDATION_FAILED says what is wrong, where', () => {
  let v: TestHerald;
  let token: string;
  let conv: string;
  beforeAll(async () => {
    v = await startTestHerald({ backend: backends().at(-1) });
    const { tenant_id } = await v.createTenant();
    token = (await v.mintUser(tenant_id, 'alice')).access_token;
    const res = await v.call<{ conversation: { id: string } }>({
      method: 'POST',
      url: '/v1/conversations',
      headers: v.bearer(token),
      payload: { kind: 'group', title: 'g' },
    });
    conv = res.body.conversation.id;
  });
  afterAll(async () => v?.close());

  const failure = async (method: 'GET' | 'POST', url: string, payload?: unknown) => {
    const res = await v.call<{
      error: { code: string; message: string; details: { path: string; message: string }[] };
    }>({
      method,
      url: url.replace('$C', conv),
      headers: v.bearer(token),
      ...(payload !== undefined ? { payload: payload as object } : {}),
    });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('VALIDATION_FAILED');
    return res.body.error;
  };

  it.each([
    [
      'a missing field',
      'POST',
      '/v1/conversations/$C/messages',
      {},
      'body.body is required',
      'body/body',
      'is required',
    ],
    [
      'an unknown field',
      'POST',
      '/v1/conversations/$C/messages',
      { body: 'x', text: 'y' },
      'body.text is not allowed (unknown field)',
      'body/text',
      'is not allowed (unknown field)',
    ],
    [
      'a wrong type',
      'POST',
      '/v1/conversations/$C/messages',
      { body: 5 },
      'body.body must be a string',
      'body/body',
      'must be a string',
    ],
    [
      'an integer out of range',
      'GET',
      '/v1/conversations/$C/messages?limit=0',
      undefined,
      'query.limit must be an integer from 1 to 200',
      'querystring/limit',
      'must be an integer from 1 to 200',
    ],
    [
      'not an integer',
      'GET',
      '/v1/conversations/$C/messages?limit=ten',
      undefined,
      'query.limit must be an integer from 1 to 200',
      'querystring/limit',
      'must be an integer from 1 to 200',
    ],
    [
      'a value not among the allowed',
      'POST',
      '/v1/conversations',
      { kind: 'dm', title: 't' },
      'body.kind must be one of: "group", "channel", "announcement"',
      'body/kind',
      'must be one of: "group", "channel", "announcement"',
    ],
    [
      'an empty list',
      'POST',
      '/v1/conversations/$C/members',
      { user_ids: [] },
      'body.user_ids must have at least 1 item',
      'body/user_ids',
      'must have at least 1 item',
    ],
    [
      'a nested field',
      'POST',
      '/v1/conversations/$C/messages',
      {
        body: 'x',
        attachments: [{ name: 'a', mime_type: 'text/plain', size: 1, url: 'javascript:alert(1)' }],
      },
      'body.attachments[0].url must match the pattern',
      'body/attachments/0/url',
      'must match the pattern',
    ],
    [
      'a string too long',
      'POST',
      '/v1/conversations',
      { kind: 'group', title: 'x'.repeat(201) },
      'body.title must be 1 to 200 characters long',
      'body/title',
      'must be 1 to 200 characters long',
    ],
    [
      'a path parameter',
      'GET',
      `/v1/conversations/${'x'.repeat(300)}`,
      undefined,
      'params.id must be 1 to',
      'params/id',
      'must be 1 to',
    ],
    [
      'a seq that is not an integer',
      'POST',
      '/v1/conversations/$C/read',
      { seq: 1.5 },
      'body.seq must be an integer from 0 to 9007199254740991',
      'body/seq',
      'must be an integer from 0 to 9007199254740991',
    ],
  ])('%s', async (_name, method, url, payload, message, path, detail) => {
    const error = await failure(method as 'GET' | 'POST', url as string, payload);
    expect(error.message.startsWith(message as string), error.message).toBe(true);
    expect(error.details[0]?.path).toBe(path);
    expect(error.details[0]?.message.startsWith(detail as string), error.details[0]?.message).toBe(true);
  });

  it('lists every problem in details and the first three in the message', async () => {
    const error = await failure('POST', '/v1/conversations', {
      title: 5,
      extra: 1,
      other: 2,
      members: 'bob',
    });
    expect(error.details.map((d) => d.path).sort()).toEqual(
      ['body/extra', 'body/kind', 'body/members', 'body/other', 'body/title'].sort(),
    );
    expect(error.message.split('; ')).toHaveLength(3);
    expect(error.message).toMatch(/ \(and 2 more\)$/);
    expect(error.message).not.toMatch(/schema is false|must have required properties|anyOf/);
  });

  it('phrases the input rule the same way', async () => {
    const error = await failure('POST', '/v1/conversations/$C/messages', { body: 'a\u0000b' });
    expect(error.details[0]?.path).toBe('body/body');
    expect(error.message.startsWith('body.body ')).toBe(true);
  });
});
