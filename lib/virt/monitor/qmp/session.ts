/**
 * One QMP client connection: the greeting, capabilities negotiation, command dispatch with `id`
 * echo, and the asynchronous events (sent only once negotiation is done, as QEMU does). The
 * transport hands in raw text and takes out whole lines; the session never touches sockets.
 */
import { LibError } from "../../../errors.ts";
import { MonitorError } from "../errors.ts";
import type { MachineEvent } from "../target.ts";
import { checkArgs, QMP_COMMANDS, type QmpContext } from "./commands.ts";
import { JsonStreamer, type JsonValue } from "./json_stream.ts";

/** Checks the request's top-level members as qmp_dispatch_check_obj does; returns the error text. */
function checkRequest(req: JsonValue): string | undefined {
  if (typeof req !== "object" || req === null || Array.isArray(req)) return "QMP input must be a JSON object";
  for (const [key, v] of Object.entries(req)) {
    if (key === "execute" || key === "exec-oob") {
      if (typeof v !== "string") return `QMP input member '${key}' must be a string`;
    } else if (key === "arguments") {
      if (typeof v !== "object" || v === null || Array.isArray(v)) {
        return "QMP input member 'arguments' must be an object";
      }
    } else if (key !== "id") {
      return `QMP input member '${key}' is unexpected`;
    }
  }
  if (!("execute" in req) && !("exec-oob" in req)) return "QMP input lacks member 'execute'";
  return undefined;
}

export class QmpSession {
  private readonly streamer = new JsonStreamer();
  private negotiated = false;
  private readonly unsubscribe: () => void;
  closed = false;

  constructor(private readonly ctx: QmpContext, private readonly send: (line: string) => void) {
    this.unsubscribe = ctx.target.onEvent((e) => this.event(e));
  }

  greeting(): void {
    const v = this.ctx.version;
    this.write({
      QMP: {
        version: { qemu: { micro: v.micro, minor: v.minor, major: v.major }, package: v.package },
        capabilities: ["oob"],
      },
    });
  }

  /** Text from the client, in whatever pieces it arrived. */
  receive(text: string): void {
    for (const item of this.streamer.feed(text)) {
      if (this.closed) return;
      if ("error" in item) this.write({ error: { class: "GenericError", desc: item.error } });
      else this.handle(item.value);
    }
  }

  close(): void {
    this.closed = true;
    this.unsubscribe();
  }

  private write(message: JsonValue): void {
    if (this.closed) return;
    try {
      this.send(JSON.stringify(message) + "\n");
    } catch {
      // The client went away mid-reply: drop it, the VM goes on.
      this.close();
    }
  }

  private event(e: MachineEvent): void {
    if (!this.negotiated) return;
    const msg: Record<string, JsonValue> = {
      timestamp: { seconds: Math.floor(e.timestampUs / 1e6), microseconds: e.timestampUs % 1e6 },
      event: e.event,
    };
    if (e.data) msg.data = e.data as JsonValue;
    this.write(msg);
  }

  private handle(req: JsonValue): void {
    const problem = checkRequest(req);
    const obj = req as Record<string, JsonValue>;
    const hasId = problem === undefined && "id" in obj;
    const fail = (cls: string, desc: string) =>
      this.write(hasId ? { id: obj.id, error: { class: cls, desc } } : { error: { class: cls, desc } });
    if (problem) return fail("GenericError", problem);
    const name = (obj.execute ?? obj["exec-oob"]) as string;
    const args = (obj.arguments ?? {}) as Record<string, JsonValue>;
    if (!this.negotiated) {
      if (name !== "qmp_capabilities") {
        return fail("CommandNotFound", "Expecting capabilities negotiation with 'qmp_capabilities'");
      }
      const bad = Object.keys(args).find((k) => k !== "enable");
      if (bad) return fail("GenericError", `Parameter '${bad}' is unexpected`);
      const enable = args.enable;
      if (enable !== undefined) {
        if (!Array.isArray(enable) || enable.some((c) => typeof c !== "string")) {
          return fail("GenericError", "Invalid parameter type for 'enable', expected: array");
        }
        const unknown = enable.find((c) => c !== "oob");
        if (unknown !== undefined) {
          return fail("GenericError", `Parameter 'enable' does not accept value '${unknown}'`);
        }
      }
      this.negotiated = true;
      return this.reply(obj, {});
    }
    const command = QMP_COMMANDS[name];
    if (!command) return fail("CommandNotFound", `The command ${name} has not been found`);
    let result: JsonValue;
    try {
      checkArgs(command, args);
      result = command.run(this.ctx, args);
    } catch (e) {
      if (e instanceof MonitorError) return fail(e.errorClass, e.message);
      if (e instanceof LibError) return fail("GenericError", e.message);
      throw e;
    }
    this.reply(obj, result);
  }

  private reply(req: Record<string, JsonValue>, result: JsonValue): void {
    this.write("id" in req ? { return: result, id: req.id } : { return: result });
  }
}
