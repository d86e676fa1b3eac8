/**
 * `kvm-ctl status`: is /dev/kvm usable, answered the way Ubuntu's kvm-ok answers it (same lines,
 * same exit status): the CPU's vmx/svm flag, then /dev/kvm, then the firmware's enable bit.
 */
import { type Context, err, out } from "./io.ts";

export function status(ctx: Context, argv: string[]): number {
  if (argv.length) return err("usage: kvm-ctl status\n"), 1;
  const system = ctx.system();
  const host = system.host;
  const verdict = (ok: boolean) => {
    out(ok ? "KVM acceleration can be used\n" : "KVM acceleration can NOT be used\n");
    return ok ? 0 : 1;
  };
  if (host.cpu === "none") {
    out("INFO: Your CPU does not support KVM extensions\n");
    return verdict(false);
  }
  const flag = host.cpu === "intel" ? "vmx" : "svm";
  const k = system.snapshot();
  if (k.loaded("kvm") && k.vendorModule()) {
    out("INFO: /dev/kvm exists\n");
    return verdict(true);
  }
  out(`INFO: /dev/kvm does not exist\nHINT:   sudo modprobe kvm_${host.cpu}\n`);
  out("INFO: Your CPU supports KVM extensions\n");
  if (!host.virtEnabled) {
    out(`INFO: KVM (${flag}) is disabled by your BIOS\n`);
    out("HINT: Enter your BIOS setup and enable Virtualization Technology (VT),\n");
    out("      and then hard poweroff/poweron your system\n");
    return verdict(false);
  }
  return verdict(true);
}
