/**
 * QMP jobs as QEMU 7.2's job layer shows them to clients, for the snapshot-save/-load/-delete
 * commands: the command creates the job (JOB_STATUS_CHANGE created, running) and its work runs
 * before the reply goes out (in QEMU the job's bottom half runs before the dispatcher resumes, so
 * a save's STOP and RESUME precede the reply); after the reply the job goes waiting, pending,
 * concluded, or aborting, concluded with its error. Concluded jobs stay listed by query-jobs (newest first) until job-dismiss (status
 * null), as snapshot jobs are not auto-dismissed.
 */
import { MonitorError } from "../errors.ts";
import type { JsonValue } from "./json_stream.ts";

type JobStatus = "created" | "running" | "waiting" | "pending" | "aborting" | "concluded" | "null";

interface Job {
  id: string;
  type: string;
  status: JobStatus;
  error?: string;
}

/** What a job needs of the machine: its events. */
export interface JobEvents {
  emit(event: string, data?: Record<string, unknown>): void;
}

export class Jobs {
  private readonly jobs: Job[] = [];

  constructor(private readonly events: JobEvents) {}

  private set(job: Job, status: JobStatus): void {
    job.status = status;
    this.events.emit("JOB_STATUS_CHANGE", { status, id: job.id });
  }

  /** Runs a job; its final states follow the command's reply, and a thrown error fails the job. */
  start(id: string, type: string, work: () => void): void {
    if (!/^[A-Za-z][A-Za-z0-9._-]*$/.test(id)) throw new MonitorError(`Invalid job ID '${id}'`);
    if (this.jobs.some((j) => j.id === id)) throw new MonitorError(`Job ID '${id}' already in use`);
    const job: Job = { id, type, status: "created" };
    this.jobs.unshift(job);
    this.events.emit("JOB_STATUS_CHANGE", { status: "created", id });
    this.set(job, "running");
    try {
      work();
    } catch (e) {
      job.error = e instanceof Error ? e.message : String(e);
    }
    setTimeout(() => {
      const steps: JobStatus[] = job.error === undefined
        ? ["waiting", "pending", "concluded"]
        : ["aborting", "concluded"];
      for (const s of steps) this.set(job, s);
    }, 0);
  }

  /** query-jobs. */
  list(): JsonValue {
    return this.jobs.map((j) => {
      const out: Record<string, JsonValue> = {
        "current-progress": j.status === "concluded" ? 1 : 0,
        status: j.status,
        "total-progress": 1,
        type: j.type,
        id: j.id,
      };
      if (j.error !== undefined) out.error = j.error;
      return out;
    });
  }

  /** At quit QEMU finalizes every job left: each goes to status null, newest first. */
  closeAll(): void {
    for (const job of this.jobs.splice(0)) this.set(job, "null");
  }

  /** job-dismiss. */
  dismiss(id: string): void {
    const i = this.jobs.findIndex((j) => j.id === id);
    if (i < 0) throw new MonitorError("Job not found");
    const job = this.jobs[i];
    if (job.status !== "concluded") {
      throw new MonitorError(`Job '${id}' in state '${job.status}' cannot accept command verb 'dismiss'`);
    }
    this.jobs.splice(i, 1);
    this.set(job, "null");
  }
}
