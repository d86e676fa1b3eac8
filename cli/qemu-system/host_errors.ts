/**
 * strerror(3) texts for host file errors, as QEMU prints them after a path. Deno and node:fs name
 * the error differently; both map onto lib/errors.ts's Errno table.
 */
import { Errno, type ErrnoName } from "../../lib/errors.ts";

const DENO_ERRORS: [new (...args: never[]) => Error, ErrnoName][] = [
  [Deno.errors.NotFound, "ENOENT"],
  [Deno.errors.PermissionDenied, "EACCES"],
  [Deno.errors.AlreadyExists, "EEXIST"],
  [Deno.errors.NotADirectory, "ENOTDIR"],
];

export function hostStrerror(e: unknown): string {
  const code = (e as { code?: string }).code;
  if (code === "EISDIR" || e instanceof Deno.errors.IsADirectory) return "Is a directory";
  if (code && code in Errno) return Errno[code as ErrnoName].text;
  for (const [type, name] of DENO_ERRORS) if (e instanceof type) return Errno[name].text;
  return e instanceof Error ? e.message : String(e);
}
