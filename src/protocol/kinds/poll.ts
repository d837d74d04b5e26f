// Polls: a message whose content is `poll: {question, options}` (stored as data.poll); members
// vote for one option (changeable until the poll is closed); the author closes it. Each vote
// that changes something and the close are events (poll.voted / poll.closed) carrying the
// tallies. `mine` (the viewer's option) is in replies and history only.
// Named builders, not `Type`: the SDK bundles this file, and `Type` pulls in all of TypeBox.
import {
  Integer,
  Null,
  Optional,
  Array as TArray,
  Boolean as TBoolean,
  Object as TObject,
  String as TString,
  Union,
} from 'typebox';
import { type KindEventBase, wireKind } from './define.ts';

export const pollLimits = { questionMax: 300, optionMax: 100, minOptions: 2, maxOptions: 10 } as const;

const strict = { additionalProperties: false } as const;

export const PollInputSchema = TObject(
  {
    question: TString({ minLength: 1, maxLength: pollLimits.questionMax }),
    options: TArray(TString({ minLength: 1, maxLength: pollLimits.optionMax }), {
      minItems: pollLimits.minOptions,
      maxItems: pollLimits.maxOptions,
    }),
  },
  strict,
);

export const PollStateSchema = TObject(
  {
    question: TString(),
    options: TArray(TObject({ text: TString(), votes: Integer({ minimum: 0 }) }, strict)),
    voters: Integer({ minimum: 0 }),
    closed: TBoolean(),
    /** The viewer's option (null: no vote); absent on events. */
    mine: Optional(Union([Integer({ minimum: 0 }), Null()])),
  },
  strict,
);
type PollState = {
  question: string;
  options: { text: string; votes: number }[];
  voters: number;
  closed: boolean;
  mine?: number | null;
};

export const pollWire = wireKind({
  name: 'poll',
  content: { field: 'poll', schema: PollInputSchema },
  summary: { field: 'poll', schema: PollStateSchema },
  actions: {
    vote: {
      args: TObject({ option: Integer({ minimum: 0, maximum: pollLimits.maxOptions - 1 }) }, strict),
      frame: 'vote',
      http: [
        {
          method: 'POST',
          path: 'votes',
          operationId: 'votePoll',
          summary: 'Vote in a poll (again to change it)',
        },
      ],
    },
    close: {
      args: TObject({}, strict),
      http: [{ method: 'POST', path: 'close', operationId: 'closePoll', summary: 'Close your poll' }],
    },
  },
  events: ['poll.voted', 'poll.closed'],
  apply(prev: unknown, event: KindEventBase, viewer: string): PollState {
    const next = { ...(event.poll as PollState) };
    const before = (prev as PollState | undefined)?.mine;
    if (event.type === 'poll.voted' && event.user_id === viewer) next.mine = Number(event.input.option);
    else if (before !== undefined) next.mine = before;
    return next;
  },
});
