/**
 * Every guest with a golden recorded from the real qemu-system-i386 runs on the minimal machine with
 * the CPU as it runs by default (hot blocks compiled); serial output and exit status must equal
 * QEMU's (golden_guests.ts). jit_guests_test.ts runs the same goldens with every block compiled.
 */
import { goldenGuestTests } from "./golden_guests.ts";

goldenGuestTests();
