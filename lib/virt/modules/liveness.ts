/**
 * Whether the processes holding /dev/kvm handles still run. Deno gates /proc behind --allow-all,
 * so /proc/<pid>/stat is read through one `sh` (kvm-ctl's task may run sh): a pid is alive when
 * its stat exists, is not a zombie, and shows the start time recorded at open (so a reused pid is
 * not taken for the holder). Where sh may not run, every holder counts as alive.
 */

export interface ProcInfo {
  state: string;
  /** Field 22 of /proc/<pid>/stat: start time in clock ticks after boot. */
  start: string;
}

/** /proc/<pid>/stat of each pid that exists, or undefined when sh cannot be run here. */
export function readProcStats(pids: number[]): Map<number, ProcInfo> | undefined {
  // Asking first keeps Deno from prompting on a terminal when the permission was not granted.
  if (Deno.permissions.querySync({ name: "run", command: "sh" }).state !== "granted") return undefined;
  const safe = pids.filter((p) => Number.isInteger(p) && p > 0);
  const script = `for p in ${safe.join(" ")}; do read -r l < /proc/$p/stat 2>/dev/null && echo "$l"; done; :`;
  let stdout: Uint8Array;
  try {
    const out = new Deno.Command("sh", {
      args: ["-c", script],
      stdout: "piped",
      stderr: "null",
      stdin: "null",
    })
      .outputSync();
    if (out.code !== 0) return undefined;
    stdout = out.stdout;
  } catch {
    return undefined;
  }
  const result = new Map<number, ProcInfo>();
  for (const line of new TextDecoder().decode(stdout).split("\n")) {
    const close = line.lastIndexOf(")");
    if (close < 0) continue;
    const fields = line.slice(close + 2).split(" ");
    result.set(Number(line.slice(0, line.indexOf(" "))), { state: fields[0], start: fields[19] });
  }
  return result;
}

/** The start time of this process, or null when it cannot be read. */
export function ownStartTime(): string | null {
  return readProcStats([Deno.pid])?.get(Deno.pid)?.start ?? null;
}

/** Which of the given holders are alive. */
export function aliveHolders(holders: { pid: number; start: string | null }[]): boolean[] {
  if (holders.length === 0) return [];
  const stats = readProcStats([...new Set(holders.map((h) => h.pid))]);
  if (!stats) return holders.map(() => true);
  return holders.map((h) => {
    const info = stats.get(h.pid);
    return !!info && info.state !== "Z" && info.state !== "X" && (h.start === null || h.start === info.start);
  });
}
