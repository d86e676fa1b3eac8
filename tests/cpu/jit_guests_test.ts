/**
 * The QEMU goldens of every guest (golden_guests.ts) through the block compiler alone: every block
 * is compiled on its first run, so each instruction form the guests use runs as compiled code.
 * (The interpreter alone is held to the compiled path, state for state, by jit_lockstep_test.ts.)
 */
import { goldenGuestTests } from "./golden_guests.ts";

goldenGuestTests(" (every block compiled)", { jit: 0 });
