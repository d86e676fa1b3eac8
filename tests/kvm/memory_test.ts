/** KVM_SET_USER_MEMORY_REGION's rules, with the errnos of Linux 6.8 __kvm_set_memory_region. */
import assert from "node:assert/strict";
import { KVM_MEM_LOG_DIRTY_PAGES, KVM_MEM_READONLY, MemorySlots } from "../../lib/virt/kvm/mod.ts";
import { errnoOf } from "./support/setup.ts";

const MB = 1 << 20;

Deno.test("memory slots: flags, slot ids, alignment and backing checks", () => {
  const m = new MemorySlots();
  const mem = new ArrayBuffer(2 * MB);
  const region = { slot: 0, flags: 0, guest_phys_addr: 0, memory_size: MB, userspace_addr: mem };
  assert.equal(errnoOf(() => m.set({ ...region, flags: 4 })), "EINVAL");
  assert.equal(errnoOf(() => m.set({ ...region, slot: 32764 })), "EINVAL");
  assert.equal(errnoOf(() => m.set({ ...region, slot: 2 << 16 })), "EINVAL");
  assert.equal(errnoOf(() => m.set({ ...region, guest_phys_addr: 0x800 })), "EINVAL");
  assert.equal(errnoOf(() => m.set({ ...region, memory_size: MB + 1 })), "EINVAL");
  assert.equal(errnoOf(() => m.set({ ...region, guest_phys_addr: 2n ** 64n - 4096n })), "EINVAL");
  assert.equal(errnoOf(() => m.set({ ...region, userspace_addr: new Uint8Array(mem, 512) })), "EINVAL");
  assert.equal(errnoOf(() => m.set({ ...region, memory_size: 4 * MB })), "EFAULT");
  assert.equal(errnoOf(() => m.set({ ...region, userspace_addr: undefined })), "EINVAL");
  assert.ok(m.empty);
  m.set(region);
  assert.equal(m.find(0x1234)?.slot, 0);
  assert.equal(m.find(MB), undefined);
});

Deno.test("memory slots: overlap is EEXIST, deleting needs a slot, existing slots only move or change dirty logging", () => {
  const m = new MemorySlots();
  const a = new ArrayBuffer(MB), b = new ArrayBuffer(MB);
  m.set({ slot: 0, flags: 0, guest_phys_addr: 0, memory_size: MB, userspace_addr: a });
  assert.equal(
    errnoOf(() =>
      m.set({ slot: 1, flags: 0, guest_phys_addr: MB - 4096, memory_size: MB, userspace_addr: b })
    ),
    "EEXIST",
  );
  m.set({ slot: 1, flags: 0, guest_phys_addr: MB, memory_size: MB, userspace_addr: b });
  // Another address space (SMM's) may overlap address space 0.
  m.set({ slot: (1 << 16) | 0, flags: 0, guest_phys_addr: 0, memory_size: MB, userspace_addr: b });
  // Slot 0 with another size or backing: EINVAL; READONLY cannot be toggled.
  assert.equal(
    errnoOf(() => m.set({ slot: 0, flags: 0, guest_phys_addr: 0, memory_size: MB / 2, userspace_addr: a })),
    "EINVAL",
  );
  assert.equal(
    errnoOf(() => m.set({ slot: 0, flags: 0, guest_phys_addr: 0, memory_size: MB, userspace_addr: b })),
    "EINVAL",
  );
  assert.equal(
    errnoOf(() =>
      m.set({ slot: 0, flags: KVM_MEM_READONLY, guest_phys_addr: 0, memory_size: MB, userspace_addr: a })
    ),
    "EINVAL",
  );
  m.set({ slot: 0, flags: KVM_MEM_LOG_DIRTY_PAGES, guest_phys_addr: 0, memory_size: MB, userspace_addr: a });
  assert.ok(m.find(0)?.dirty);
  // Moving onto slot 1 overlaps; moving to free space works.
  assert.equal(
    errnoOf(() => m.set({ slot: 0, flags: 0, guest_phys_addr: MB, memory_size: MB, userspace_addr: a })),
    "EEXIST",
  );
  m.set({ slot: 0, flags: 0, guest_phys_addr: 4 * MB, memory_size: MB, userspace_addr: a });
  assert.equal(m.find(4 * MB + 5)?.slot, 0);
  assert.equal(m.find(5), undefined);
  // Size 0 deletes; deleting an empty slot is EINVAL.
  m.set({ slot: 0, flags: 0, guest_phys_addr: 0, memory_size: 0 });
  assert.equal(m.find(4 * MB), undefined);
  assert.equal(errnoOf(() => m.set({ slot: 0, flags: 0, guest_phys_addr: 0, memory_size: 0 })), "EINVAL");
  // The freed range can be used by another slot; a readonly slot keeps its flag.
  m.set({ slot: 7, flags: KVM_MEM_READONLY, guest_phys_addr: 4 * MB, memory_size: MB, userspace_addr: a });
  assert.equal(m.find(4 * MB)?.flags, KVM_MEM_READONLY);
  // Guest writes through the slot land in the caller's buffer.
  m.find(4 * MB + 16)!.bytes[16] = 0xaa;
  assert.equal(new Uint8Array(a)[16], 0xaa);
});
