// The kinds' actions in the SDK (client.kinds.reactions.react(…), client.kinds.poll.vote(…)),
// derived from the protocol's list of kinds: each call picks the action's HTTP route whose
// implied arguments match (DELETE …/reactions/{emoji} for a react with remove: true), puts
// `:name` arguments in the path and the rest in the body. Over HTTP so a call resolves with
// the message's summary; the change also reaches subscribers as the kind's event.
import type { Static, TSchema } from 'typebox';
import { type ActionRoute, type WireKind, type WireKindShape, wireKinds } from '../protocol/kinds/index.ts';
import type { HeraldHttp } from './http.ts';

type Summary<W> = W extends { summary: { field: infer F extends string; schema: infer S extends TSchema } }
  ? { [K in F]: Static<S> }
  : never;

/** What an action answers: the message's summary as you see it, and the event's seq (null: nothing changed). */
export type ActionResult<W> = { message_id: string; seq: number | null; changed: boolean } & Summary<W>;

export type KindActions = {
  [W in WireKind as W['name']]: {
    [A in keyof W['actions']]: (
      conversation: string,
      messageId: string,
      args: W['actions'][A] extends { args: infer S extends TSchema } ? Static<S> : never,
    ) => Promise<ActionResult<W>>;
  };
};

function routeFor(routes: readonly ActionRoute[], args: Record<string, unknown>): ActionRoute {
  let best: ActionRoute | undefined;
  for (const r of routes) {
    const fixed = Object.entries(r.fixed ?? {});
    if (!fixed.every(([k, v]) => args[k] === v)) continue;
    if (!best || fixed.length > Object.keys(best.fixed ?? {}).length) best = r;
  }
  return best ?? routes[0];
}

export function kindActions(http: HeraldHttp): KindActions {
  const out: Record<string, Record<string, unknown>> = {};
  for (const w of wireKinds as readonly WireKindShape[]) {
    const calls: Record<string, unknown> = {};
    for (const [name, def] of Object.entries(w.actions)) {
      calls[name] = (conversation: string, messageId: string, args: Record<string, unknown>) => {
        const route = routeFor(def.http, args);
        const body: Record<string, unknown> = { ...args };
        for (const k of Object.keys(route.fixed ?? {})) delete body[k];
        const path = route.path.replace(/:(\w+)/g, (_, k: string) => {
          const v = String(body[k]);
          delete body[k];
          return encodeURIComponent(v);
        });
        const url = `/v1/conversations/${encodeURIComponent(conversation)}/messages/${encodeURIComponent(messageId)}/${path}`;
        return http.request(route.method, url, route.method === 'DELETE' ? {} : { body });
      };
    }
    out[w.name] = calls;
  }
  return out as unknown as KindActions;
}
