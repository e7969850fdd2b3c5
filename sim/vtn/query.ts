import { z } from 'zod';
import { MAX_LIMIT, objectIdSchema, objectTypeSchema } from '../../agent/grid/openadr/spec';
import { badRequest, issuesText } from './http';

/**
 * The query parameters of the list endpoints, as the OpenAPI file declares them: skip ≥ 0,
 * limit 0..50, targets repeated (`targets=a&targets=b`; 3.0.1's targetValues read the same),
 * programID/eventID/venID object IDs, active true|false. A bad one is a 400 problem.
 */

const many = z
  .union([z.string(), z.array(z.string())])
  .optional()
  .transform((v) => (v === undefined ? [] : Array.isArray(v) ? v : [v]));

const int = (min: number, max: number, dflt: number) =>
  z
    .string()
    .regex(/^\d+$/, 'expected a whole number')
    .transform(Number)
    .pipe(z.number().int().min(min).max(max))
    .optional()
    .transform((v) => v ?? dflt);

export const listQuerySchema = z.object({
  skip: int(0, Number.MAX_SAFE_INTEGER, 0),
  limit: int(0, MAX_LIMIT, MAX_LIMIT),
  targets: many,
  targetValues: many,
  programID: objectIdSchema.optional(),
  eventID: objectIdSchema.optional(),
  venID: objectIdSchema.optional(),
  clientName: z.string().min(1).max(128).optional(),
  venName: z.string().min(1).max(128).optional(),
  resourceName: z.string().min(1).max(128).optional(),
  objects: z
    .union([objectTypeSchema, z.array(objectTypeSchema)])
    .optional()
    .transform((v) => (v === undefined ? [] : Array.isArray(v) ? v : [v])),
  active: z.enum(['true', 'false']).optional(),
});
export type ListQuery = z.infer<typeof listQuerySchema>;

export function parseQuery(raw: Record<string, string | string[]>): ListQuery {
  const q = listQuerySchema.safeParse(raw);
  if (!q.success) throw badRequest(`query: ${issuesText(q.error)}`);
  return q.data;
}

/** the targets a request names, whichever revision's parameter carried them */
export function requestedTargets(q: ListQuery): string[] {
  return [...q.targets, ...q.targetValues];
}
