/**
 * The QMP conversation the transcript tests hold with a VM running tests/guests/monitor/counter.bin:
 * one list of raw lines, played against Debian's qemu-system-i386 to record the golden transcript
 * (record_qmp.ts) and against ours to compare JSON shapes (qmp_transcript_test.ts).
 */

/** Raw lines sent in order; some are malformed on purpose. */
export const QMP_STEPS: string[] = [
  `{"execute": "query-status"}`,
  `{"execute": "qmp_capabilities", "id": "neg-1"}`,
  `{"execute": "qmp_capabilities"}`,
  `{"execute": "query-status", "id": 7}`,
  `{"execute": "query-version"}`,
  `{"execute": "query-name"}`,
  `{"execute": "query-kvm"}`,
  `{"execute": "query-cpus-fast"}`,
  `{"execute": "query-block"}`,
  `{"execute": "stop"}`,
  `{"execute": "query-status"}`,
  `{"execute": "stop"}`,
  `{"execute": "cont"}`,
  `{"execute": "cont"}`,
  `{"execute": "system_reset"}`,
  `{"execute": "no-such-command", "id": "x"}`,
  `{"execute": "eject", "arguments": {"device": 1}}`,
  `{"execute": "eject", "arguments": {"device": "nope"}}`,
  `{"execute": "eject"}`,
  `{"execute": "query-status", "arguments": {"bogus": 1}}`,
  `{"execute": "blockdev-change-medium", "arguments": {"device": "nope", "filename": "/nonexistent"}}`,
  `{"exec": "query-status"}`,
  `[1, 2]`,
  `{"execute": 5}`,
  `{"execute": "query-status", "arguments": []}`,
  `{"execute": "query-status", "id": {"a": [1, "b"]}}`,
  `{"execute": "human-monitor-command", "arguments": {"command-line": "info status"}}`,
  `{"execute": "human-monitor-command", "arguments": {"command-line": "bogus"}}`,
  `{"execute": "human-monitor-command", "arguments": {"command-line": "info registers"}}`,
  `{"execute": "human-monitor-command", "arguments": {"command-line": "info kvm"}}`,
  `{"execute": "human-monitor-command", "arguments": {"command-line": "info version"}}`,
  `{"execute": "human-monitor-command", "arguments": {}}`,
  `{"execute": "system_powerdown"}`,
  `{"execute": "query-commands"}`,
  `{"execute": "quit"}`,
];

const hmpLine = (line: string) =>
  JSON.stringify({ execute: "human-monitor-command", arguments: { "command-line": line } });

/**
 * The run-state and snapshot conversation, held with count_print.bin and a qcow2 disk whose node
 * is called disk0 (-drive ...,node-name=disk0): HMP savevm/loadvm and the QMP snapshot jobs.
 */
/** savevm of QEMU's 128 MiB guest takes most of a second: events of a step may come that late. */
export const SNAPSHOT_SETTLE_MS = 1500;

export const SNAPSHOT_STEPS: string[] = [
  `{"execute": "qmp_capabilities"}`,
  `{"execute": "query-status"}`,
  `{"execute": "stop"}`,
  `{"execute": "query-status"}`,
  `{"execute": "cont"}`,
  hmpLine("info snapshots"),
  hmpLine("savevm s1"),
  `{"execute": "system_reset"}`,
  hmpLine("loadvm s1"),
  hmpLine("loadvm nope"),
  `{"execute": "query-status"}`,
  `{"execute": "cont"}`,
  hmpLine("loadvm"),
  hmpLine("delvm nope"),
  `{"execute": "snapshot-save", "arguments": {"job-id": "j1", "tag": "t1", "vmstate": "disk0", "devices": ["disk0"]}}`,
  `{"execute": "query-jobs"}`,
  `{"execute": "job-dismiss", "arguments": {"id": "j1"}}`,
  `{"execute": "snapshot-save", "arguments": {"job-id": "j2", "tag": "t1", "vmstate": "disk0", "devices": ["disk0"]}}`,
  `{"execute": "query-jobs"}`,
  `{"execute": "snapshot-load", "arguments": {"job-id": "j3", "tag": "t1", "vmstate": "disk0", "devices": ["disk0"]}}`,
  `{"execute": "query-status"}`,
  `{"execute": "snapshot-load", "arguments": {"job-id": "j4", "tag": "nope", "vmstate": "disk0", "devices": ["disk0"]}}`,
  `{"execute": "query-status"}`,
  `{"execute": "cont"}`,
  `{"execute": "snapshot-load", "arguments": {"job-id": "j5", "tag": "t1", "vmstate": "nonode", "devices": ["disk0"]}}`,
  `{"execute": "snapshot-delete", "arguments": {"job-id": "j6", "tag": "t1", "devices": ["disk0"]}}`,
  `{"execute": "snapshot-delete", "arguments": {"job-id": "j6", "tag": "t1", "devices": ["disk0"]}}`,
  `{"execute": "snapshot-save", "arguments": {"job-id": "j7", "tag": "t2", "vmstate": "disk0", "devices": []}}`,
  `{"execute": "snapshot-save", "arguments": {"job-id": "j8", "tag": "t2", "vmstate": "disk0"}}`,
  `{"execute": "snapshot-save", "arguments": {"job-id": "j8", "tag": "t2", "vmstate": "disk0", "devices": "disk0"}}`,
  `{"execute": "snapshot-save", "arguments": {"job-id": "j8", "tag": "t2", "vmstate": "disk0", "devices": [1]}}`,
  `{"execute": "query-jobs"}`,
  `{"execute": "job-dismiss", "arguments": {"id": "zz"}}`,
  `{"execute": "job-dismiss", "arguments": {"id": "j3"}}`,
  hmpLine("delvm s1"),
  hmpLine("info snapshots"),
  `{"execute": "quit"}`,
];

/**
 * Input QEMU's JSON streamer must reject or take apart, each sent after negotiation. A step may
 * hold several lines (a value split across lines, two values on one line).
 */
export const QMP_MALFORMED: string[] = [
  `{"execute": "qmp_capabilities"}`,
  `nonsense`,
  `{"execute": "query-status"}}`,
  `{"execute": "query-status", "id": tru}`,
  `]`,
  `{"execute": "stop", "id": 1, "id": 2}`,
  `{"a":\n1}`,
  `{'execute': 'query-name', 'id': 'single'}`,
  `{"execute": "query-name", "id": 1.5e3}`,
  `{"execute": "cont", "id": "first"} {"execute": "query-name", "id": "second"}`,
  `{"execute": "query-name", "id": "\\u00e9\\n"}`,
  `{"execute": "query-name", "id": "\\q"}`,
  `{"execute": "query-status", "arguments": null}`,
  `{"arguments": {}}`,
  `{"execute": "eject", "arguments": {"id": "x", "device": "y"}}`,
  `{"execute": "eject", "arguments": {"device": "ide1-cd0", "force": "yes"}}`,
];

/** Human monitor lines sent through human-monitor-command; the VM is stopped first so memory is still. */
export const HMP_LINES: string[] = [
  "stop",
  "info status",
  "xp/8xb 0x100000",
  "x/4xw 0x100000",
  "xp/3dh 0x100000",
  "x/2c 0x100000",
  "x 0x100004",
  "xp/2xg 0x100000",
  "x/3uw 0x100000",
  "x/2ow 0x100000",
  "x/5xh 0x100000",
  "x/20xb 0x100000",
  "x/xw 0xfffffff0",
  "x/4dw 0x100000",
  "x/s 0x100000",
  "x",
  "x/4 nonsense",
  "x/2xw 0x100000+4*2",
  "xp/2xw (0x100000)",
  "sendkey foo",
  "eject nope",
  "help stop",
  "help x",
  "info kvm",
  "info name",
  "info snapshots",
  "cont",
  "info status",
];

/** One step's traffic: what was sent and every message received for it (replies and events). */
export interface TranscriptStep {
  sent: string;
  received: unknown[];
}

/** Reads newline-delimited JSON messages from a stream. */
export class LineReader {
  private buffer = "";
  private readonly decoder = new TextDecoder();
  private readonly queue: unknown[] = [];
  closed = false;
  constructor(private readonly conn: Deno.Conn) {}

  /** Next message, or undefined at EOF or after `timeoutMs`. */
  async next(timeoutMs: number): Promise<unknown | undefined> {
    const deadline = Date.now() + timeoutMs;
    while (!this.queue.length && !this.closed) {
      const left = deadline - Date.now();
      if (left <= 0) break;
      await this.fill(left);
    }
    return this.queue.shift();
  }

  private pendingRead?: Promise<number | null>;
  private readBuf = new Uint8Array(65536);

  private async fill(timeoutMs: number): Promise<void> {
    this.pendingRead ??= this.conn.read(this.readBuf).catch(() => null);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<"timeout">((r) => timer = setTimeout(() => r("timeout"), timeoutMs));
    const n = await Promise.race([this.pendingRead, timeout]);
    clearTimeout(timer);
    if (n === "timeout") return;
    this.pendingRead = undefined;
    if (n === null) {
      this.closed = true;
      return;
    }
    this.buffer += this.decoder.decode(this.readBuf.subarray(0, n));
    let nl: number;
    while ((nl = this.buffer.indexOf("\n")) >= 0) {
      const line = this.buffer.slice(0, nl).trim();
      this.buffer = this.buffer.slice(nl + 1);
      if (line) this.queue.push(JSON.parse(line));
    }
  }
}

const isReply = (m: unknown) => typeof m === "object" && m !== null && ("return" in m || "error" in m);

/**
 * Plays the steps on a connection whose greeting has been read: after each line, waits for its
 * reply (malformed input may get one), then gathers events that follow within `settleMs`.
 */
export async function playSteps(
  conn: Deno.Conn,
  reader: LineReader,
  steps: string[],
  settleMs = 150,
): Promise<TranscriptStep[]> {
  const out: TranscriptStep[] = [];
  const encoder = new TextEncoder();
  for (const sent of steps) {
    await conn.write(encoder.encode(sent + "\n"));
    const received: unknown[] = [];
    for (;;) {
      const m = await reader.next(5000);
      if (m === undefined) break;
      received.push(m);
      if (isReply(m)) break;
    }
    for (;;) {
      const m = await reader.next(settleMs);
      if (m === undefined) break;
      received.push(m);
    }
    out.push({ sent, received });
  }
  return out;
}

/** HMP lines as human-monitor-command requests. */
export function hmpSteps(lines: string[]): string[] {
  return lines.map((l) =>
    JSON.stringify({ execute: "human-monitor-command", arguments: { "command-line": l } })
  );
}
