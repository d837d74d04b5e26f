// @vitest-environment happy-dom
// @herald/react's provider and hooks in a DOM (happy-dom) with React's own
// rendering (@testing-library/react), over a real HeraldClient talking to the
// scriptable fake server (test/client/fake-server.ts) on real sockets. The
// page is "served" from the fake server's origin, so the client's HTTP calls
// are same-origin, as when a Herald node serves the app.
import { HeraldClient, type HeraldClientOptions } from '@herald/client';
import {
  HeraldProvider,
  useConnectionState,
  useConversation,
  useHerald,
  useHeraldEvent,
  useInbox,
  useNotices,
  usePresence,
  useSend,
  useSession,
  useTyping,
  useUnread,
} from '@herald/react';
import { act, cleanup, render, screen, waitFor } from '@testing-library/react';
import { type ReactNode, StrictMode, useState } from 'react';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { type FakeConnection, FakeServer } from '../client/fake-server.ts';

let server: FakeServer;
const clients: HeraldClient[] = [];
const happyDOM = () =>
  (window as unknown as { happyDOM: { setURL(url: string): void; waitUntilComplete(): Promise<void> } })
    .happyDOM;

beforeEach(async () => {
  server = await FakeServer.start({ userId: 'u-me' });
  happyDOM().setURL(`${server.url}/`);
});
afterEach(async () => {
  cleanup();
  for (const c of clients.splice(0)) c.disconnect();
  // Let the page's fetches in flight (inbox and notices syncs) finish before the server goes.
  await happyDOM().waitUntilComplete();
  await server.close();
});

function makeClient(opts: Partial<HeraldClientOptions> = {}): HeraldClient {
  const c = new HeraldClient({
    url: server.url,
    token: 'tok-1',
    WebSocket,
    backoff: { baseMs: 20, maxMs: 100 },
    pingIntervalMs: 0,
    heartbeat: false,
    ...opts,
  });
  clients.push(c);
  return c;
}

function withHerald(client: HeraldClient, ui: ReactNode, strict = false) {
  const tree = <HeraldProvider client={client}>{ui}</HeraldProvider>;
  return render(strict ? <StrictMode>{tree}</StrictMode> : tree);
}

const framesOf = (conn: FakeConnection, type: string) => conn.frames.filter((f) => f.type === type);

describe('@herald/react', () => {
  it('connects on mount, shows the connection state and session, disconnects on unmount', async () => {
    const client = makeClient();
    function Status() {
      const state = useConnectionState();
      const session = useSession();
      return <p data-testid="status">{`${state} ${session?.user_id ?? '-'}`}</p>;
    }
    const view = withHerald(client, <Status />);
    expect(screen.getByTestId('status').textContent).toMatch(/^connecting/);
    await waitFor(() => expect(screen.getByTestId('status').textContent).toBe('connected u-me'));

    const conn = server.last;
    act(() => conn.close(4000, 'drain'));
    await waitFor(() =>
      expect(screen.getByTestId('status').textContent).toMatch(/^(reconnecting|connecting)/),
    );
    await waitFor(() => expect(screen.getByTestId('status').textContent).toBe('connected u-me'));

    view.unmount();
    expect(client.state).toBe('disconnected');
    await waitFor(() => expect(server.last.closed).toBe(true));
  });

  it('leaves the connection to the app with connect={false}', async () => {
    const client = makeClient();
    function Status() {
      return <p data-testid="status">{useConnectionState()}</p>;
    }
    const view = render(
      <HeraldProvider client={client} connect={false}>
        <Status />
      </HeraldProvider>,
    );
    expect(screen.getByTestId('status').textContent).toBe('disconnected');
    act(() => client.connect());
    await waitFor(() => expect(screen.getByTestId('status').textContent).toBe('connected'));
    view.unmount();
    expect(client.state).toBe('connected');
  });

  it('hooks outside a provider throw a clear error', () => {
    function Lost() {
      useHerald();
      return null;
    }
    const errors: unknown[] = [];
    const onError = (e: ErrorEvent) => {
      errors.push(e.error);
      e.preventDefault();
    };
    window.addEventListener('error', onError);
    try {
      expect(() => render(<Lost />)).toThrow(/HeraldProvider/);
    } finally {
      window.removeEventListener('error', onError);
    }
  });

  it('useInbox and useUnread follow the synced inbox and live inbox frames', async () => {
    server.setInbox('c1', { title: 'One', unread_count: 2, mention_count: 1 });
    server.setInbox('c2', { title: 'Two', unread_count: 0 });
    const client = makeClient();
    const renders: string[] = [];
    function Inbox() {
      const { entries, totals, synced } = useInbox();
      const c1 = useUnread('c1');
      const line = `${synced} ${entries.map((e) => `${e.title}:${e.unread_count}`).join(',')} total=${totals.unread}/${totals.mentions} c1=${c1}`;
      renders.push(line);
      return <p data-testid="inbox">{line}</p>;
    }
    withHerald(client, <Inbox />);
    await waitFor(() => expect(screen.getByTestId('inbox').textContent).toMatch(/^true .* total=2\/1 c1=2$/));
    expect(screen.getByTestId('inbox').textContent).toContain('One:2');
    expect(screen.getByTestId('inbox').textContent).toContain('Two:0');

    const entry = server.setInbox('c1', { unread_count: 5 });
    act(() => server.last.send({ type: 'inbox', entry }));
    await waitFor(() => expect(screen.getByTestId('inbox').textContent).toMatch(/total=5\/1 c1=5$/));

    // A large channel's `inbox_hint` (no new version) raises the same entry: unread derives from seqs.
    act(() => server.last.send({ type: 'inbox_hint', conversation: 'c2', last_seq: 4 }));
    await waitFor(() => expect(screen.getByTestId('inbox').textContent).toMatch(/Two:4.* total=9\/1 c1=5$/));

    // A render the inbox did not cause reuses the same snapshot (no render per unrelated event).
    const before = renders.length;
    act(() => server.last.send({ type: 'typing', conversation: 'c1', user_id: 'u-other', ttl_ms: 1000 }));
    expect(renders.length).toBe(before);
  });

  it('useNotices lists notices and the unread count', async () => {
    server.setNotice('n1', { title: 'Welcome' });
    server.setNotice('n2', { title: 'Read already', read: true });
    const client = makeClient();
    function Notices() {
      const { notices, unread } = useNotices();
      return <p data-testid="notices">{`${notices.map((n) => n.title).join(',')} unread=${unread}`}</p>;
    }
    withHerald(client, <Notices />);
    await waitFor(() => expect(screen.getByTestId('notices').textContent).toMatch(/unread=1$/));
    expect(screen.getByTestId('notices').textContent).toContain('Welcome');
  });

  it('useConversation shows the timeline and an optimistic send exactly once through every render', async () => {
    server.append('c1', 'first', { publish: false });
    server.append('c1', 'second', { publish: false });
    server.setInbox('c1', { last_seq: 2 });
    const client = makeClient();
    let send: ((body: string) => { client_id: string }) | null = null;
    const seen: { messages: string[]; outgoing: string[]; status: string }[] = [];
    function Room() {
      const room = useConversation('c1', { sinceSeq: 0 });
      send = room.send;
      seen.push({
        messages: room.messages.map((m) => `${m.seq}:${m.body}:${m.client_id ?? ''}`),
        outgoing: room.outgoing.map((o) => `${o.body}:${o.status}:${o.client_id}`),
        status: room.status,
      });
      return (
        <ul data-testid="timeline">
          {room.messages.map((m) => (
            <li key={m.id}>{m.body}</li>
          ))}
          {room.outgoing.map((o) => (
            <li key={o.client_id} data-status={o.status}>
              {o.body}
            </li>
          ))}
        </ul>
      );
    }
    withHerald(client, <Room />);
    await waitFor(() => expect(screen.getByTestId('timeline').textContent).toBe('firstsecond'));
    expect(seen.at(-1)?.status).toBe('subscribed');

    // Another member writes: it appears live.
    act(() => void server.append('c1', 'third'));
    await waitFor(() => expect(screen.getByTestId('timeline').textContent).toBe('firstsecondthird'));

    // Our send: in `outgoing` at once, then in `messages` — never both, never neither.
    let clientId = '';
    act(() => {
      clientId = send!('mine').client_id;
    });
    expect(screen.getByTestId('timeline').textContent).toBe('firstsecondthirdmine');
    await waitFor(() => expect(seen.at(-1)?.messages.at(-1)).toBe(`4:mine:${clientId}`));
    const after = seen.slice(seen.findIndex((s) => s.outgoing.some((o) => o.endsWith(clientId))));
    for (const s of after) {
      const inMessages = s.messages.filter((m) => m.endsWith(`:${clientId}`)).length;
      const inOutgoing = s.outgoing.filter((o) => o.endsWith(`:${clientId}`)).length;
      expect(inMessages + inOutgoing).toBe(1);
    }
    expect(seen.at(-1)?.outgoing).toEqual([]);
    expect(server.countClientId('c1', clientId)).toBe(1);
  });

  it('keeps a confirmed send in outgoing until its event reaches the timeline', async () => {
    const client = makeClient();
    let conn: FakeConnection | null = null;
    let held: (() => void) | null = null;
    server.onFrame = (c, frame) => {
      if (frame.type !== 'send') return false;
      conn = c;
      // Commit and ack now; the event comes when the test releases it.
      server.commitSend(c, frame, false);
      const stored = server.log(frame.conversation).at(-1)!;
      c.send({
        type: 'ack',
        client_id: frame.client_id,
        conversation: frame.conversation,
        seq: stored.seq,
        message_id: stored.event.type === 'message.created' ? stored.event.message.id : '',
      });
      held = () => server.publish(frame.conversation, stored);
      return true;
    };
    let api: ReturnType<typeof useConversation> | null = null;
    function Room() {
      api = useConversation('c1', { sinceSeq: 0 });
      return null;
    }
    withHerald(client, <Room />);
    await waitFor(() => expect(api?.status).toBe('subscribed'));
    let out: ReturnType<HeraldClient['send']> | null = null;
    act(() => {
      out = api!.send('acked first');
    });
    await act(async () => {
      await out!.done;
    });
    expect(out!.status).toBe('confirmed');
    expect(api!.outgoing.map((o) => o.client_id)).toEqual([out!.client_id]);
    expect(api!.messages).toEqual([]);
    expect(conn).not.toBeNull();
    act(() => held!());
    await waitFor(() => expect(api!.messages.map((m) => m.body)).toEqual(['acked first']));
    expect(api!.outgoing).toEqual([]);
  });

  it('a refused send stays in outgoing as failed, with its catalog code, until dismissed', async () => {
    server.onFrame = (c, frame) => {
      if (frame.type !== 'send') return false;
      c.send({ type: 'error', code: 'NOT_A_MEMBER', message: 'not a member', ref: frame.client_id });
      return true;
    };
    const client = makeClient();
    let api: ReturnType<typeof useSend> | null = null;
    function Composer() {
      api = useSend('c9');
      return (
        <p data-testid="out">
          {api.outgoing.map((o) => `${o.body}:${o.status}:${o.error?.code ?? ''}`).join(',')}
        </p>
      );
    }
    withHerald(client, <Composer />);
    await waitFor(() => expect(client.state).toBe('connected'));
    let id = '';
    act(() => {
      id = api!.send('nope').client_id;
    });
    await waitFor(() => expect(screen.getByTestId('out').textContent).toBe('nope:failed:NOT_A_MEMBER'));
    act(() => api!.dismiss(id));
    expect(screen.getByTestId('out').textContent).toBe('');
  });

  it('shares one subscription between components and closes it with the last one (also under StrictMode)', async () => {
    const client = makeClient();
    function Room({ tag }: { tag: string }) {
      const { messages } = useConversation('c1', { sinceSeq: 0 });
      return <p data-testid={tag}>{messages.length}</p>;
    }
    function Page() {
      const [a, setA] = useState(true);
      const [b, setB] = useState(true);
      return (
        <>
          <button type="button" data-testid="drop-a" onClick={() => setA(false)} />
          <button type="button" data-testid="drop-b" onClick={() => setB(false)} />
          {a && <Room tag="a" />}
          {b && <Room tag="b" />}
        </>
      );
    }
    withHerald(client, <Page />, true);
    await waitFor(() => expect(client.subscription('c1')?.status).toBe('subscribed'));
    const conn = server.last;
    act(() => void server.append('c1', 'hello'));
    await waitFor(() => expect(screen.getByTestId('a').textContent).toBe('1'));
    expect(screen.getByTestId('b').textContent).toBe('1');

    act(() => screen.getByTestId('drop-a').click());
    expect(client.subscription('c1')?.status).toBe('subscribed');
    act(() => screen.getByTestId('drop-b').click());
    expect(client.subscription('c1')).toBeUndefined();
    await waitFor(() =>
      expect(framesOf(conn, 'unsubscribe').at(-1)).toEqual({ type: 'unsubscribe', conversation: 'c1' }),
    );
    // StrictMode mounted everything twice: whatever was opened in between, nothing is left open.
    const subs = framesOf(conn, 'subscribe').length;
    const unsubs = framesOf(conn, 'unsubscribe').length;
    expect(subs - unsubs).toBe(0);
  });

  it('switching conversations closes the old one; a new client gets a fresh provider state', async () => {
    const first = makeClient();
    function Room({ id }: { id: string }) {
      const { status } = useConversation(id, { sinceSeq: 0 });
      return <p data-testid="room">{`${id}:${status}:${useConnectionState()}`}</p>;
    }
    const view = withHerald(first, <Room id="c1" />);
    await waitFor(() => expect(screen.getByTestId('room').textContent).toBe('c1:subscribed:connected'));
    const conn = server.last;
    view.rerender(
      <HeraldProvider client={first}>
        <Room id="c2" />
      </HeraldProvider>,
    );
    await waitFor(() => expect(screen.getByTestId('room').textContent).toBe('c2:subscribed:connected'));
    expect(framesOf(conn, 'unsubscribe')).toEqual([{ type: 'unsubscribe', conversation: 'c1' }]);
    expect(first.subscription('c1')).toBeUndefined();

    // Another user signs in: the provider drops the first client and follows the second.
    const second = makeClient({ token: 'tok-2' });
    view.rerender(
      <HeraldProvider client={second}>
        <Room id="c2" />
      </HeraldProvider>,
    );
    expect(first.state).toBe('disconnected');
    await waitFor(() => expect(screen.getByTestId('room').textContent).toBe('c2:subscribed:connected'));
    expect(second.subscription('c2')?.status).toBe('subscribed');
    expect(server.last.token).toBe('tok-2');
  });

  it('view: true states the conversation on screen and clears it on unmount', async () => {
    const client = makeClient();
    function Room() {
      useConversation('c1', { view: true });
      return null;
    }
    const view = withHerald(client, <Room />);
    await waitFor(() =>
      expect(framesOf(server.last, 'view')).toContainEqual({ type: 'view', conversation: 'c1' }),
    );
    view.unmount();
    expect(client.state).toBe('disconnected');
  });

  it('useTyping shows who types until the indicator expires, and notify() sends a throttled typing frame', async () => {
    const client = makeClient({ typingThrottleMs: 60_000 });
    let notify: (() => void) | null = null;
    function Typing() {
      const t = useTyping('c1');
      notify = t.notify;
      return <p data-testid="typing">{t.users.join(',')}</p>;
    }
    withHerald(client, <Typing />);
    await waitFor(() => expect(client.state).toBe('connected'));
    act(() => server.last.send({ type: 'typing', conversation: 'c1', user_id: 'bob', ttl_ms: 300 }));
    await waitFor(() => expect(screen.getByTestId('typing').textContent).toBe('bob'));
    await waitFor(() => expect(screen.getByTestId('typing').textContent).toBe(''), { timeout: 5000 });

    // Typing goes out for a conversation this connection has subscribed to (as the server requires).
    act(() => void client.open('c1'));
    await waitFor(() => expect(client.subscription('c1')?.status).toBe('subscribed'));
    act(() => {
      notify!();
      notify!();
    });
    await waitFor(() =>
      expect(framesOf(server.last, 'typing')).toEqual([{ type: 'typing', conversation: 'c1' }]),
    );
  });

  it('usePresence merges the snapshot and deltas per device, and starts over on a new connection', async () => {
    const client = makeClient();
    function Who() {
      useConversation('c1', { sinceSeq: 0 });
      const present = usePresence('c1');
      return (
        <p data-testid="who">{present.map((p) => `${p.user_id}/${p.device_id}:${p.status}`).join(',')}</p>
      );
    }
    withHerald(client, <Who />);
    await waitFor(() => expect(client.subscription('c1')?.status).toBe('subscribed'));
    const entry = (user: string, device: string, status: 'online' | 'away' | 'offline') => ({
      user_id: user,
      device_id: device,
      status,
      resource: null,
      last_seen_ms: 1,
    });
    act(() =>
      server.last.send({
        type: 'presence',
        conversation: 'c1',
        entries: [entry('bob', 'd1', 'online'), entry('carol', 'd2', 'online')],
      }),
    );
    await waitFor(() => expect(screen.getByTestId('who').textContent).toBe('bob/d1:online,carol/d2:online'));
    act(() =>
      server.last.send({
        type: 'presence',
        conversation: 'c1',
        entries: [entry('bob', 'd1', 'away'), entry('carol', 'd2', 'offline')],
      }),
    );
    await waitFor(() => expect(screen.getByTestId('who').textContent).toBe('bob/d1:away'));

    act(() => server.last.close(4000, 'drain'));
    await waitFor(() => expect(screen.getByTestId('who').textContent).toBe(''));
  });

  it('useHeraldEvent calls the latest handler for each event while mounted', async () => {
    const client = makeClient();
    const got: string[] = [];
    function Toasts({ prefix }: { prefix: string }) {
      useHeraldEvent('receipt', (r) => got.push(`${prefix}${r.user_id}@${r.seq}`));
      return null;
    }
    const view = withHerald(client, <Toasts prefix="a:" />);
    await waitFor(() => expect(client.state).toBe('connected'));
    act(() => server.last.send({ type: 'receipt', conversation: 'c1', user_id: 'bob', seq: 3 }));
    await waitFor(() => expect(got).toEqual(['a:bob@3']));
    view.rerender(
      <HeraldProvider client={client}>
        <Toasts prefix="b:" />
      </HeraldProvider>,
    );
    act(() => server.last.send({ type: 'receipt', conversation: 'c1', user_id: 'bob', seq: 4 }));
    await waitFor(() => expect(got).toEqual(['a:bob@3', 'b:bob@4']));
  });
});
