// `herald migrate` and `herald serve` on a PostgreSQL server whose database does
// not exist yet: create it when the user may, otherwise say exactly what to run.
import pg from 'pg';

/** The database named in DATABASE_URL is missing and could not be created. */
export class DatabaseMissingError extends Error {
  override name = 'DatabaseMissingError';
}

const quoteIdent = (name: string) => `"${name.replaceAll('"', '""')}"`;

/** Creates the database of `url` if it does not exist. Returns whether it created it. */
export async function ensureDatabase(url: string): Promise<boolean> {
  const probe = new pg.Client({ connectionString: url });
  probe.on('error', () => {});
  try {
    await probe.connect();
    return false;
  } catch (err) {
    if ((err as { code?: string }).code !== '3D000') throw err; // invalid_catalog_name
  } finally {
    await probe.end().catch(() => {});
  }
  const target = new URL(url);
  const name = decodeURIComponent(target.pathname.replace(/^\//, ''));
  const admin = new URL(url);
  admin.pathname = '/postgres';
  const client = new pg.Client({ connectionString: admin.toString() });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query(`CREATE DATABASE ${quoteIdent(name)}`);
    return true;
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === '42P04') return false; // created meanwhile by another node
    const user = decodeURIComponent(target.username) || 'postgres';
    throw new DatabaseMissingError(
      `database "${name}" does not exist and user "${user}" cannot create it (${(err as Error).message}). ` +
        `Create it as a superuser, e.g.: createdb -h ${target.hostname} -p ${target.port || 5432} -U postgres -O ${user} ${name}`,
    );
  } finally {
    await client.end().catch(() => {});
  }
}
