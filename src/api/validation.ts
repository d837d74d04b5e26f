// Fastify's request validator: TypeBox's compiled check with the protocol's readable issues
// (src/protocol/issues.ts), which toHeraldError (errors.ts) turns into VALIDATION_FAILED.
import { TypeBoxValidatorCompiler } from '@fastify/type-provider-typebox';
import type { FastifySchemaCompiler } from 'fastify';
import type { TSchema } from 'typebox';
import { type RawIssue, readableIssues } from '../protocol/issues.ts';

/** Fastify's validator compiler: TypeBox's, with readable issues. */
export const validatorCompiler: FastifySchemaCompiler<TSchema> = (route) => {
  const check = TypeBoxValidatorCompiler(route);
  return (value) => {
    const result = check(value) as { value?: unknown; error?: unknown };
    if (!Array.isArray(result.error)) return result as never;
    return { error: readableIssues(route.schema, result.error as RawIssue[]) } as never;
  };
};
