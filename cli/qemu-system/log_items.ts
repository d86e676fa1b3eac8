/**
 * The `-d` log items. QEMU accepts all of these; ours writes in_asm, int, cpu, exec, cpu_reset,
 * guest_errors and unimp, and accepts the TCG-internal ones (out_asm, op...) without output,
 * since there is no TCG intermediate code to show.
 */

export const LOG_ITEM_HELP: [name: string, help: string][] = [
  ["out_asm", "show generated host assembly code for each compiled TB"],
  ["in_asm", "show target assembly code for each compiled TB"],
  ["op", "show micro ops for each compiled TB"],
  ["op_opt", "show micro ops after optimization"],
  ["op_ind", "show micro ops before indirect lowering"],
  ["int", "show interrupts/exceptions in short format"],
  ["exec", "show trace before each executed TB (lots of logs)"],
  ["cpu", "show CPU registers before entering a TB (lots of logs)"],
  ["fpu", "include FPU registers in the 'cpu' logging"],
  ["mmu", "log MMU-related activities"],
  ["pcall", "x86 only: show protected mode far calls/returns/exceptions"],
  ["cpu_reset", "show CPU state before CPU resets"],
  ["unimp", "log unimplemented functionality"],
  ["guest_errors", "log when the guest OS does something invalid (eg accessing a\nnon-existent register)"],
  ["page", "dump pages at beginning of user mode emulation"],
  ["nochain", 'do not chain compiled TBs so that "exec" and "cpu" show\ncomplete traces'],
  ["plugin", "output from TCG plugins\n"],
  ["strace", "log every user-mode syscall, its input, and its result"],
  ["tid", "open a separate log file per thread; filename must contain '%d'"],
];

export const LOG_ITEMS = new Set(LOG_ITEM_HELP.map(([name]) => name));

/** What `-d help` (and a bad `-d` list) prints on stdout, as QEMU's qemu_print_log_usage. */
export function logUsage(): string {
  const lines = ["Log items (comma separated):"];
  for (const [name, help] of LOG_ITEM_HELP) lines.push(`${name.padEnd(15)} ${help}`);
  lines.push(
    "trace:PATTERN   enable trace events",
    "",
    'Use "-d trace:help" to get a list of trace events.',
    "",
  );
  return lines.join("\n") + "\n";
}
