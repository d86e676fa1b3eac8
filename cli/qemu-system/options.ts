/**
 * The option table of qemu-system, in the manner of QEMU's qemu-options.def: each option's names,
 * whether it takes an argument, and its -h text. The parser looks options up here; the handlers
 * in parse.ts say what each one does.
 */

export interface OptionDef {
  /** Canonical name, also the handler key. */
  name: string;
  /** Further spellings (`-M` for `-machine`). */
  aliases?: string[];
  /** Takes the next argv word as its argument. */
  arg: boolean;
  /** The -h text: first line after the synopsis column, then continuation lines. */
  synopsis: string;
  help: string[];
  /** Section heading printed before this option in -h. */
  section?: string;
}

export const OPTIONS: OptionDef[] = [
  {
    name: "h",
    aliases: ["help"],
    arg: false,
    synopsis: "-h or -help",
    help: ["display this help and exit"],
    section: "Standard options:",
  },
  { name: "version", arg: false, synopsis: "-version", help: ["display version information and exit"] },
  {
    name: "machine",
    aliases: ["M"],
    arg: true,
    synopsis: "-machine [type=]name[,prop[=value][,...]]",
    help: [
      "selects emulated machine ('-machine help' for list)",
      "property accel=accel1[:accel2[:...]] selects accelerator",
      "supported accelerators are kvm or tcg (default: tcg)",
    ],
  },
  { name: "cpu", arg: true, synopsis: "-cpu cpu", help: ["select CPU ('-cpu help' for list)"] },
  {
    name: "accel",
    arg: true,
    synopsis: "-accel [accel=]accelerator[,prop[=value][,...]]",
    help: ["select accelerator (kvm or tcg; use 'help' for a list)", "thread=single (TCG threading)"],
  },
  {
    name: "smp",
    arg: true,
    synopsis: "-smp [[cpus=]n][,maxcpus=maxcpus][,sockets=sockets][,cores=cores][,threads=threads]",
    help: ["set the number of CPUs (the pc machine of qemu-kvm-ts has one)"],
  },
  {
    name: "m",
    arg: true,
    synopsis: "-m [size=]megs[,slots=n,maxmem=size]",
    help: [
      "configure guest RAM",
      "size: initial amount of guest memory",
      "slots: number of hotplug slots (default: none)",
      "maxmem: maximum amount of guest memory (default: none)",
    ],
  },
  {
    name: "name",
    arg: true,
    synopsis: "-name string1[,process=string2][,debug-threads=on|off]",
    help: ["set the name of the guest"],
  },
  {
    name: "hda",
    aliases: ["hdb", "hdc", "hdd"],
    arg: true,
    synopsis: "-hda/-hdb file",
    help: ["use 'file' as IDE hard disk 0/1 image"],
    section: "Block device options:",
  },
  {
    name: "cdrom",
    arg: true,
    synopsis: "-cdrom file",
    help: ["use 'file' as IDE cdrom image (cdrom is ide1 master)"],
  },
  {
    name: "drive",
    arg: true,
    synopsis: "-drive [file=file][,if=ide|none][,index=i][,media=d][,snapshot=on|off]",
    help: [
      "[,cache=writethrough|writeback|none|directsync|unsafe][,format=f]",
      "[,readonly=on|off]",
      "use 'file' as a drive image",
    ],
  },
  {
    name: "snapshot",
    arg: false,
    synopsis: "-snapshot",
    help: ["write to temporary files instead of disk image files"],
  },
  {
    name: "boot",
    arg: true,
    synopsis: "-boot [order=drives][,once=drives][,menu=on|off]",
    help: ["'drives': floppy (a), hard disk (c), CD-ROM (d), network (n)"],
  },
  {
    name: "rtc",
    arg: true,
    synopsis: "-rtc [base=utc|localtime|date][,clock=host|rt|vm][,driftfix=none|slew]",
    help: ["set the RTC base and clock"],
  },
  {
    name: "display",
    arg: true,
    synopsis: "-display none",
    help: ["select display backend type (only 'none': qemu-kvm-ts has no graphics)"],
    section: "Display options:",
  },
  {
    name: "nographic",
    arg: false,
    synopsis: "-nographic",
    help: ["disable graphical output and redirect serial I/Os to console"],
  },
  {
    name: "vga",
    arg: true,
    synopsis: "-vga none",
    help: ["select video card type (only 'none')"],
  },
  {
    name: "kernel",
    arg: true,
    synopsis: "-kernel bzImage",
    help: ["use 'bzImage' as kernel image (Linux bzImage, multiboot v1, or a flat binary)"],
    section: "Linux/Multiboot boot specific:",
  },
  { name: "append", arg: true, synopsis: "-append cmdline", help: ["use 'cmdline' as kernel command line"] },
  { name: "initrd", arg: true, synopsis: "-initrd file", help: ["use 'file' as initial ram disk"] },
  {
    name: "serial",
    arg: true,
    synopsis: "-serial dev",
    help: ["redirect the serial port to char device 'dev' (stdio, null, none, file:PATH, mon:stdio)"],
    section: "Debug/Expert options:",
  },
  {
    name: "monitor",
    arg: true,
    synopsis: "-monitor dev",
    help: ["redirect the monitor to char device 'dev' (none, stdio)"],
  },
  {
    name: "qmp",
    arg: true,
    synopsis: "-qmp dev",
    help: ["like -monitor but opens in 'control' mode (unix:PATH,server=on,wait=off or tcp:HOST:PORT,...)"],
  },
  {
    name: "gdb",
    arg: true,
    synopsis: "-gdb dev",
    help: ["accept gdb connection on 'dev' (tcp::PORT)"],
  },
  { name: "s", arg: false, synopsis: "-s", help: ["shorthand for -gdb tcp::1234"] },
  { name: "S", arg: false, synopsis: "-S", help: ["freeze CPU at startup (use 'c' to start execution)"] },
  {
    name: "debugcon",
    arg: true,
    synopsis: "-debugcon dev",
    help: ["redirect the debug console (port 0x402) to char device 'dev'"],
  },
  { name: "pidfile", arg: true, synopsis: "-pidfile file", help: ["write PID to 'file'"] },
  {
    name: "d",
    arg: true,
    synopsis: "-d item1,...",
    help: ["enable logging of specified items (use '-d help' for a list of log items)"],
  },
  { name: "D", arg: true, synopsis: "-D logfile", help: ["output log to logfile (default stderr)"] },
  { name: "bios", arg: true, synopsis: "-bios file", help: ["set the filename for the BIOS"] },
  {
    name: "enable-kvm",
    arg: false,
    synopsis: "-enable-kvm",
    help: ["enable KVM full virtualization support"],
  },
  {
    name: "no-reboot",
    arg: false,
    synopsis: "-no-reboot",
    help: ["exit instead of rebooting"],
  },
  {
    name: "no-shutdown",
    arg: false,
    synopsis: "-no-shutdown",
    help: ["stop before shutdown"],
  },
  {
    name: "loadvm",
    arg: true,
    synopsis: "-loadvm [tag|id]",
    help: ["start right away with a saved state (loadvm in monitor)"],
  },
  {
    name: "device",
    arg: true,
    synopsis: "-device driver[,prop[=value][,...]]",
    help: [
      "add device (based on driver)",
      "use '-device help' to print all possible drivers",
      "use '-device driver,help' to print all possible properties",
    ],
  },
  {
    name: "nodefaults",
    arg: false,
    synopsis: "-nodefaults",
    help: ["don't create default devices"],
  },
];

const BY_NAME = new Map<string, OptionDef>();
for (const option of OPTIONS) {
  BY_NAME.set(option.name, option);
  for (const alias of option.aliases ?? []) BY_NAME.set(alias, option);
}

/** The option an argv word names (`-m`, `--m`), without its dashes, or undefined. */
export function lookupOption(word: string): OptionDef | undefined {
  const name = word.startsWith("--") ? word.slice(2) : word.slice(1);
  return BY_NAME.get(name);
}

const COLUMN = 16;

/** The -h text: QEMU's layout (synopsis, then descriptions indented to column 16). */
export function helpText(program: string, versionLines: string[]): string {
  const out = [...versionLines, `usage: ${program} [options] [disk_image]`, ""];
  out.push("'disk_image' is a raw hard disk image for IDE hard disk 0", "");
  for (const option of OPTIONS) {
    if (option.section) {
      if (out[out.length - 1] !== "") out.push("");
      out.push(option.section);
    }
    const [first, ...rest] = option.help;
    if (option.synopsis.length < COLUMN) out.push(option.synopsis.padEnd(COLUMN) + first);
    else out.push(option.synopsis, " ".repeat(COLUMN) + first);
    for (const line of rest) out.push(" ".repeat(COLUMN) + line);
  }
  out.push("", "During emulation, the following keys are useful:");
  out.push("ctrl-alt-f      toggle full screen", "");
  out.push("When using -nographic, press 'ctrl-a h' to get some help.", "");
  return out.join("\n") + "\n";
}
