// One input schema per shape (src/protocol/schema.ts): the WebSocket parser, the HTTP body
// schema and the domain's check are the same definition and say the same words.
import { describe, expect, it } from 'vitest';
import { SendBody } from '../../src/api/schemas.ts';
import { validateInput } from '../../src/domain/compose.ts';
import { defaultLimits } from '../../src/domain/limits.ts';
import { parseClientFrame } from '../../src/gateway/client-frames.ts';
import { HeraldError } from '../../src/protocol/errors.ts';
import { clientFrameSchemas, MessageInputSchema } from '../../src/protocol/schema.ts';

const send = (extra: object) =>
  parseClientFrame(
    JSON.stringify({ type: 'send', conversation: 'c1', client_id: 'k1', body: 'hi', ...extra }),
  );

function domainMessage(input: object): string {
  try {
    validateInput(input as never, defaultLimits);
  } catch (err) {
    if (err instanceof HeraldError) return `${err.code}: ${err.message}`;
    throw err;
  }
  return 'accepted';
}

describe('one message input schema', () => {
  it('HTTP sends with the very schema the domain checks, and a WebSocket send adds only where it goes', () => {
    expect(SendBody).toBe(MessageInputSchema);
    const ws = Object.keys(clientFrameSchemas.send.properties).sort();
    const http = Object.keys(MessageInputSchema.properties);
    expect(ws).toEqual([...http, 'type', 'conversation'].sort());
  });

  it('a WebSocket frame is refused in the words HTTP uses, naming the frame and the field, with its ref', () => {
    expect(send({ body: 5 })).toMatchObject({
      ok: false,
      code: 'VALIDATION_FAILED',
      message: 'send.body must be a string.',
      ref: 'k1',
    });
    expect(send({ colour: 'red' })).toMatchObject({
      ok: false,
      message: 'send.colour is not allowed (unknown field).',
    });
    expect(
      send({ attachments: [{ name: 'a', mime_type: 'x/y', size: 1, url: 'javascript:x' }] }),
    ).toMatchObject({
      ok: false,
      message: 'send.attachments[0].url must match the pattern ^https?://\\S+$.',
    });
    expect(send({ reply_to: null })).toMatchObject({ ok: false, message: 'send.reply_to must be a string.' });
    expect(parseClientFrame('{"type":"read","conversation":"c1","seq":-1}')).toMatchObject({
      ok: false,
      message: 'read.seq must be an integer from 0 to 9007199254740991.',
      ref: 'c1',
    });
    expect(parseClientFrame('{"type":"heartbeat","status":"asleep"}')).toMatchObject({
      ok: false,
      message: 'heartbeat.status must be one of: "active", "idle", "viewing", "away".',
    });
    expect(parseClientFrame('{"type":"warp"}')).toMatchObject({ ok: false, code: 'UNKNOWN_FRAME' });
  });

  it('accepted frames are exactly what was sent', () => {
    const frame = { type: 'send', conversation: 'c1', client_id: 'k1', body: 'hi', mentions: ['ann'] };
    expect(parseClientFrame(JSON.stringify(frame))).toEqual({ ok: true, frame });
    expect(parseClientFrame('{"type":"view","conversation":null}')).toEqual({
      ok: true,
      frame: { type: 'view', conversation: null },
    });
  });

  it('the domain refuses a bad shape from a direct caller in the same words, before its own caps', () => {
    expect(domainMessage({ body: 5 })).toBe('VALIDATION_FAILED: body must be a string.');
    expect(domainMessage({ body: 'x', mentions: ['bob smith'] })).toBe(
      'VALIDATION_FAILED: mentions[0] must match the pattern ^\\S+$.',
    );
    expect(domainMessage({ body: 'x', client_id: '' })).toBe(
      'VALIDATION_FAILED: client_id must be 1 to 128 characters long.',
    );
    expect(domainMessage({ body: '   ' })).toBe('EMPTY_BODY: The message body is empty.');
    expect(domainMessage({ body: 'x', data: { any: 'thing' } })).toBe('accepted');
  });
});
