/**
 * Errors the monitors raise. Each carries the QMP error class QEMU would report (qapi ErrorClass),
 * so QMP replies with `{"error": {"class", "desc"}}` and HMP prints the desc, as QEMU's
 * error_report does.
 */
import { LibError } from "../../errors.ts";

export class MonitorError extends LibError {
  readonly errorClass: string = "GenericError";
}

export class CommandNotFoundError extends MonitorError {
  override readonly errorClass = "CommandNotFound";
}

export class DeviceNotFoundError extends MonitorError {
  override readonly errorClass = "DeviceNotFound";
}
