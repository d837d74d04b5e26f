// The audit log on both stores: each administrative and mass action is recorded with who,
// what, when, target and recipients, in the action's own transaction (a refused action
// records nothing); GET /v1/audit filters and pages, and a tenant sees only its own.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditRecord } from '../../src/audit/query.ts';
import type { TokenPair } from '../../src/auth/service.ts';
import { startTestHerald, type TestHerald } from '../support/herald.ts';
import { type Backend, backends } from '../support/stores.ts';

describe.each(backends())('audit log (%s)', (backend: Backend) => {
  let t: TestHerald;
  beforeAll(async () => {
    t = await startTestHerald({ backend, env: { HERALD_WEBHOOK_ALLOW_HOSTS: '127.0.0.1' } });
    await t.herald.webhooks.stop(); // endpoints here point nowhere: no attempt is needed
  }, 60_000);
  afterAll(async () => t?.close());

  const as = (who: TokenPair | string) => t.bearer(who);
  async function call<T = Record<string, unknown>>(
    method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE',
    url: string,
    who: TokenPair | string,
    payload?: object,
  ) {
    return t.call<T>({ method, url, headers: as(who), ...(payload ? { payload } : {}) });
  }
  const audit = async (key: string, q = '') =>
    (await call<{ entries: AuditRecord[]; next_before: string | null }>('GET', `/v1/audit${q}`, key)).body;
  const keyId = async (key: string) => (await t.herald.auth.tenantOfApiKey(key)).key_id;

  it('records tenant, grant, admin and webhook management with the acting credential', async () => {
    const acme = await t.createTenant();
    const globex = await t.createTenant();
    await t.mintUser(acme.tenant_id, 'alice');
    const grant = { tenant_id: acme.tenant_id, user_id: 'alice', granted_tenant: globex.tenant_id };
    expect((await call('POST', '/v1/grants', t.adminToken, grant)).status).toBe(200);
    expect((await call('POST', '/v1/grants', t.adminToken, grant)).status).toBe(200); // no change, no record
    expect((await call('DELETE', '/v1/grants', t.adminToken, grant)).status).toBe(200);
    expect((await call('PUT', '/v1/admins/alice', acme.api_key)).status).toBe(200);
    expect((await call('DELETE', '/v1/admins/alice', acme.api_key)).status).toBe(204);
    const hook = await call<{ webhook: { id: string }; secret: string }>(
      'POST',
      '/v1/webhooks',
      acme.api_key,
      {
        url: 'http://127.0.0.1:9/acme',
        events: ['message.created'],
      },
    );
    const wh = hook.body.webhook.id;
    await call('PATCH', `/v1/webhooks/${wh}`, acme.api_key, { enabled: false });
    const rotated = await call<{ secret: string }>('POST', `/v1/webhooks/${wh}/rotate`, acme.api_key);
    await call('DELETE', `/v1/webhooks/${wh}`, acme.api_key);

    const page = await audit(acme.api_key);
    const id = await keyId(acme.api_key);
    const key = { type: 'api_key', id };
    expect(page.entries.map((e) => [e.action, e.actor, e.target])).toEqual([
      ['webhook.deleted', key, { type: 'webhook', id: wh }],
      ['webhook.secret_rotated', key, { type: 'webhook', id: wh }],
      ['webhook.updated', key, { type: 'webhook', id: wh }],
      ['webhook.created', key, { type: 'webhook', id: wh }],
      ['admin.removed', key, { type: 'user', id: 'alice' }],
      ['admin.added', key, { type: 'user', id: 'alice' }],
      ['grant.revoked', { type: 'operator', id: null }, { type: 'user', id: 'alice' }],
      ['grant.created', { type: 'operator', id: null }, { type: 'user', id: 'alice' }],
      ['tenant.created', { type: 'operator', id: null }, { type: 'tenant', id: acme.tenant_id }],
    ]);
    expect(page.entries[2].details).toEqual({ enabled: false });
    expect(page.entries[3].details).toMatchObject({
      url: 'http://127.0.0.1:9/acme',
      events: ['message.created'],
    });
    // Secrets never reach the log.
    const text = JSON.stringify(page);
    expect(text).not.toContain(hook.body.secret);
    expect(text).not.toContain(rotated.body.secret);
    expect(text).not.toContain(acme.api_key);
    for (const e of page.entries) expect(Date.parse(e.at)).not.toBeNaN();
    // The grant is in the granted tenant's log too; the rest of acme's is not.
    expect((await audit(globex.api_key)).entries.map((e) => e.action)).toEqual([
      'grant.revoked',
      'grant.created',
      'tenant.created',
    ]);
  });

  it('records mass actions with their recipients: announcements, tenant-wide notices, removals', async () => {
    const { tenant_id, api_key } = await t.createTenant();
    const [alice, bob] = await Promise.all(
      ['alice', 'bob', 'carol', 'dave'].map((u) => t.mintUser(tenant_id, u)),
    );
    const ann = await call<{ conversation: { id: string } }>('POST', '/v1/conversations', alice, {
      kind: 'announcement',
      title: 'News',
      audience: 'tenant',
    });
    const msg = await call<{ message: { id: string } }>(
      'POST',
      `/v1/conversations/${ann.body.conversation.id}/messages`,
      alice,
      { body: 'all hands' },
    );
    expect(msg.status).toBe(201);
    expect((await call('POST', '/v1/notices', api_key, { to: 'tenant', title: 'T', body: 'B' })).status).toBe(
      201,
    );
    // A notice to named users is not a mass action: not recorded.
    expect((await call('POST', '/v1/notices', api_key, { to: ['bob'], title: 'T', body: 'B' })).status).toBe(
      201,
    );
    const g = await call<{ conversation: { id: string } }>('POST', '/v1/conversations', alice, {
      kind: 'group',
      title: 'g',
      members: ['bob', 'carol'],
    });
    const gid = g.body.conversation.id;
    // Leaving is not a removal; a moderator (the creator, admin of the group) removing is.
    expect((await call('DELETE', `/v1/conversations/${gid}/members/bob`, bob)).status).toBe(200);
    expect((await call('DELETE', `/v1/conversations/${gid}/members/carol`, alice)).status).toBe(200);

    const { entries } = await audit(api_key);
    const byAction = Object.fromEntries(entries.map((e) => [e.action, e]));
    expect(Object.keys(byAction).sort()).toEqual([
      'announcement.sent',
      'member.removed',
      'notice.sent_to_tenant',
      'tenant.created',
    ]);
    expect(byAction['announcement.sent']).toMatchObject({
      actor: { type: 'user', id: 'alice' },
      target: { type: 'message', id: msg.body.message.id },
      recipients: 3,
      details: { conversation_id: ann.body.conversation.id, audience: 'tenant' },
    });
    expect(byAction['notice.sent_to_tenant']).toMatchObject({
      actor: { type: 'api_key', id: await keyId(api_key) },
      recipients: 4,
      target: { type: 'notice' },
    });
    expect(byAction['member.removed']).toMatchObject({
      actor: { type: 'user', id: 'alice' },
      target: { type: 'user', id: 'carol' },
      details: { conversation_id: gid, kind: 'group', by_role: 'admin' },
    });
    expect(byAction['notice.sent_to_tenant'].trace_id).toEqual(expect.any(String));
  });

  it('a refused action records nothing', async () => {
    const { tenant_id, api_key } = await t.createTenant();
    const before = (await audit(api_key)).entries.length;
    expect((await call('PUT', '/v1/admins/nobody', api_key)).status).toBe(404);
    expect((await call('DELETE', '/v1/admins/nobody', api_key)).status).toBe(404);
    const refused = await call('POST', '/v1/webhooks', api_key, {
      url: 'http://127.0.0.2/x',
      events: ['message.created'],
    });
    expect(refused.status).toBe(400);
    expect((await call('PATCH', '/v1/webhooks/wh_nope', api_key, { enabled: false })).status).toBe(404);
    expect((await call('POST', '/v1/tenants', t.adminToken, { tenant_id })).status).toBe(409);
    expect((await call('POST', '/v1/notices', api_key, { to: 'tenant', title: '', body: '' })).status).toBe(
      400,
    );
    expect((await audit(api_key)).entries.length).toBe(before);
  });

  it('filters by action, family, actor, target and time, pages by before, and stays in the tenant', async () => {
    const { api_key } = await t.createTenant();
    const other = await t.createTenant();
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const res = await call<{ webhook: { id: string } }>('POST', '/v1/webhooks', api_key, {
        url: `http://127.0.0.1:9/h${i}`,
        events: ['notice.sent'],
      });
      ids.push(res.body.webhook.id);
    }
    await call('DELETE', `/v1/webhooks/${ids[0]}`, api_key);
    expect((await audit(api_key, '?action=webhook.created')).entries).toHaveLength(5);
    expect((await audit(api_key, '?action=webhook.')).entries).toHaveLength(6);
    expect((await audit(api_key, '?action=webhook')).entries).toHaveLength(0);
    expect((await audit(api_key, `?target_id=${ids[0]}`)).entries.map((e) => e.action)).toEqual([
      'webhook.deleted',
      'webhook.created',
    ]);
    expect((await audit(api_key, '?actor_type=operator')).entries.map((e) => e.action)).toEqual([
      'tenant.created',
    ]);
    expect((await audit(api_key, `?actor_id=${await keyId(api_key)}`)).entries).toHaveLength(6);
    const future = new Date(Date.now() + 3_600_000).toISOString();
    expect((await audit(api_key, `?since=${future}`)).entries).toEqual([]);
    expect((await audit(api_key, `?until=${future}`)).entries).toHaveLength(7);

    // Pages of 3, newest first, covering everything once.
    const seen: string[] = [];
    let q = '?limit=3';
    for (;;) {
      const page = await audit(api_key, q);
      seen.push(...page.entries.map((e) => e.id));
      if (!page.next_before) break;
      q = `?limit=3&before=${page.next_before}`;
    }
    expect(seen).toHaveLength(7);
    expect(seen).toEqual([...seen].sort((a, b) => Number(b) - Number(a)));

    // Another tenant's backend sees none of it — by filter, by target or by tenant_id.
    const theirs = await audit(other.api_key, `?target_id=${ids[1]}`);
    expect(theirs.entries).toEqual([]);
    expect((await call('GET', '/v1/audit?tenant_id=x', other.api_key)).status).toBe(403);
    const op = await call<{ entries: AuditRecord[] }>(
      'GET',
      `/v1/audit?tenant_id=${other.tenant_id}`,
      t.adminToken,
    );
    expect(op.body.entries.map((e) => e.action)).toEqual(['tenant.created']);

    for (const bad of [
      '?since=yesterday',
      '?before=x',
      '?limit=0',
      '?limit=201',
      '?actor_type=robot',
      '?action=A',
    ]) {
      const res = await call<{ error: { code: string } }>('GET', `/v1/audit${bad}`, api_key);
      expect([res.status, res.body.error.code], bad).toEqual([400, 'VALIDATION_FAILED']);
    }
    expect((await call('GET', '/v1/audit', t.adminToken)).status).toBe(400);
  });
});
