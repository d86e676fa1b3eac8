/**
 * How qemu-system identifies itself. Scripts parse the first line for `QEMU emulator version X.Y.Z`,
 * so ours keeps that shape with the QEMU version whose command line it follows, and names itself in
 * the parenthesis where distributions put their package version.
 */

/** The QEMU release whose command line, messages and formats this tool follows. */
export const QEMU_VERSION = "7.2.22";
export const PROJECT_VERSION = "0.1.0";

export function versionLines(): string[] {
  return [
    `QEMU emulator version ${QEMU_VERSION} (qemu-kvm-ts ${PROJECT_VERSION})`,
    "qemu-kvm-ts: the QEMU/KVM toolchain rebuilt in TypeScript; not QEMU itself",
  ];
}
