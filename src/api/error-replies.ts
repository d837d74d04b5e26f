// The one error body every route answers with (the catalog's code, a message, validation
// details) and the per-status replies a route declares with it (OpenAPI).
import { type TSchema, Type } from 'typebox';
import { strict } from '../protocol/schema.ts';

export const ErrorSchema = Type.Object(
  {
    error: Type.Object(
      {
        code: Type.String({ description: 'A code of the catalog (docs/protocol.md#errors); branch on it.' }),
        message: Type.String({ description: 'For humans; may change.' }),
        details: Type.Optional(
          Type.Array(Type.Object({ path: Type.String(), message: Type.String() }, strict), {
            description: 'VALIDATION_FAILED: what is wrong, where (`body/text`, `querystring/limit`).',
          }),
        ),
      },
      strict,
    ),
  },
  { ...strict, $id: 'Error' },
);

/** What each error status means on the routes that declare it (one shared Error body). */
const ERROR_STATUS: Record<number, string> = {
  400: 'VALIDATION_FAILED, BAD_REQUEST, or the route’s own 400 codes',
  401: 'UNAUTHENTICATED or TOKEN_EXPIRED',
  403: 'Not allowed (FORBIDDEN, NOT_A_MEMBER, NOT_ADMIN, NOT_AUTHOR)',
  404: 'The named tenant, user, conversation, message or notice does not exist',
  409: 'Conflicts with the current state (CONFLICT, MESSAGE_DELETED)',
  413: 'PAYLOAD_TOO_LARGE or BODY_TOO_LARGE',
  415: 'UNSUPPORTED_MEDIA_TYPE: send application/json',
  422: 'IDEMPOTENCY_KEY_REUSED',
  429: 'RATE_LIMITED: wait Retry-After seconds; nothing was written',
  500: 'INTERNAL',
  503: 'STORE_UNAVAILABLE (retry after Retry-After, same idempotency key)',
};

/** `{ [status]: Error }` for the given error statuses. */
export function errorReplies(...statuses: number[]): Record<number, TSchema> {
  return Object.fromEntries(
    statuses.map((s) => [s, Type.Ref('Error', { description: ERROR_STATUS[s] ?? 'An error' })]),
  );
}
