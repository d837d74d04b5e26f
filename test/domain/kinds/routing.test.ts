// Routing on two axes (src/domain/commands.ts, content-kinds.ts): the conversation kind picks
// the command, the content kind must allow that conversation kind and becomes the message's
// data. No store: these are the pure parts.
import { describe, expect, it } from 'vitest';
import { commandFor } from '../../../src/domain/commands.ts';
import { contentKindOf, contentOf } from '../../../src/domain/content-kinds.ts';
import { HeraldError } from '../../../src/protocol/index.ts';

const poll = { question: 'Lunch?', options: ['Pizza', 'Sushi'] };
const code = (f: () => unknown) => {
  try {
    f();
  } catch (err) {
    return err instanceof HeraldError ? err.code : String(err);
  }
  return 'no error';
};

describe('routing a send', () => {
  it('picks the command by conversation kind, for text and for a poll alike', () => {
    expect(commandFor('group', 'ann', 'c1', { body: 'hi' }).kind).toBe('GroupMessage');
    expect(commandFor('group', 'ann', 'c1', { body: '', poll }).kind).toBe('GroupMessage');
    expect(commandFor('channel', 'ann', 'c1', { body: '', poll }).kind).toBe('ChannelMessage');
    expect(commandFor('direct', 'ann', 'c1', { body: '', poll }).kind).toBe('DirectMessage');
    expect(commandFor('announcement', 'ann', 'c1', { body: 'news' })).toMatchObject({
      kind: 'Announcement',
      actor: { type: 'user', user_id: 'ann' },
    });
  });

  it('refuses a content kind where its descriptor does not allow it, and notices for everything', () => {
    expect(code(() => commandFor('announcement', 'ann', 'c1', { body: '', poll }))).toBe('INVALID_KIND');
    expect(code(() => commandFor('notices', 'ann', 'c1', { body: 'hi' }))).toBe('INVALID_KIND');
  });

  it('turns the content field into data, with the body defaulting to the kind’s text', () => {
    expect(contentKindOf({ body: 'hi' }).name).toBe('text');
    expect(contentKindOf({ body: '', poll }).name).toBe('poll');
    expect(contentOf({ body: '', poll })).toEqual({ data: { poll }, body: '📊 Lunch?' });
    expect(contentOf({ body: 'Vote', poll })).toEqual({ data: { poll }, body: 'Vote' });
    expect(contentOf({ body: 'hi' })).toEqual({ data: null, body: 'hi' });
    // A system event's data passes through untouched.
    expect(contentOf({ body: 'x', data: { event: 'renamed' } })).toEqual({
      data: { event: 'renamed' },
      body: 'x',
    });
  });
});
