import type { z } from "zod";

/** The inner schema a wrapper (default, optional, a transform's input, …) stands for. */
function unwrap(schema: z.core.$ZodType): z.core.$ZodType {
  const def = schema._zod.def as { innerType?: z.core.$ZodType; in?: z.core.$ZodType };
  const inner = def.innerType ?? def.in;
  return inner ? unwrap(inner) : schema;
}

/**
 * The keys the mapping at `path` takes, or null where the schema is not one mapping there: an
 * unknown key is then reported with the keys it could have been (`branch` → `branches`).
 */
export function knownKeysAt(schema: z.core.$ZodType, path: readonly PropertyKey[]): string[] | null {
  let node = unwrap(schema);
  for (const step of path) {
    const def = node._zod.def as {
      type: string;
      element?: z.core.$ZodType;
      shape?: Record<string, z.core.$ZodType>;
    };
    const next =
      def.type === "array" ? def.element : def.type === "object" ? def.shape?.[String(step)] : undefined;
    if (!next) return null;
    node = unwrap(next);
  }
  const def = node._zod.def as { type: string; shape?: Record<string, z.core.$ZodType> };
  return def.type === "object" && def.shape ? Object.keys(def.shape) : null;
}
