/** `kvm-ctl caps`: KVM_GET_API_VERSION and each KVM_CHECK_EXTENSION answer of the simulated /dev/kvm. */
import { capabilities, KVM_API_VERSION } from "../../lib/virt/modules/caps.ts";
import { type Context, err, out } from "./io.ts";

export function caps(ctx: Context, argv: string[]): number {
  if (argv.length) return err("usage: kvm-ctl caps\n"), 1;
  const list = capabilities(ctx.system().snapshot());
  if (!list) return err("kvm-ctl: caps: /dev/kvm: No such file or directory\n"), 1;
  let text = `KVM_API_VERSION ${KVM_API_VERSION}\n${"Capability".padEnd(28)}   Nr  Value\n`;
  for (const c of list) text += `${c.name.padEnd(28)} ${c.nr.toString().padStart(4)}  ${c.value}\n`;
  out(text);
  return 0;
}
