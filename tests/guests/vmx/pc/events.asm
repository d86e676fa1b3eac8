; golden: none
; A VMX hypervisor (L1) on the PC board (PIC, PIT, IOAPIC, local APIC): what happens to the board's
; interrupts and NMIs while its guest (L2) runs, MMIO that L1's EPT gives L2, and the VM-entry/VM-exit
; MSR lists.
; QEMU's TCG has no VMX, so tests/golden/vmx/pc/events.txt follows the Intel SDM (Vol. 3C), as the
; comment at each step says; tests/vmx/nested_events_test.ts runs it under qemu-system on tcg
; (bare VMX) and under -enable-kvm with kvm_intel nested=1 (nested), which must print the same.
;
; 1. External-interrupt exiting with "acknowledge interrupt on exit": each PIT tick while L2 spins
;    is exit 1 with the vector in the exit interruption information (SDM 27.2.2).
; 2. Without the acknowledgement: exit 1, information invalid; the interrupt stays pending and
;    L1 takes it through its own IDT once it sets IF.
; 3. Without external-interrupt exiting: L2 takes the tick through L2's IDT (its I/O bitmaps let
;    its EOI reach the PIC) and then does VMCALL.
; 4. Interrupt-window exiting (PIT masked): exit 7 once L2 sets IF.
; 5. L2 writes and reads the IOAPIC's registers through an EPT mapping of 0xFEC00000 (L1 MMIO).
; 6. NMI exiting: L2 sends itself an NMI through the local APIC's ICR (MMIO too): exit 0 with the
;    NMI's interruption information (SDM 27.2.2); L1 then runs with NMIs blocked until an IRET.
; 7. Without NMI exiting: L2 takes its NMI through vector 2 of its IDT, then does VMCALL.
; 8. MSR lists: the VM-entry MSR-load list sets IA32_SYSENTER_CS for L2, the VM-exit MSR-store
;    list saves it, the VM-exit MSR-load list sets L1's; an entry whose second list entry names
;    an x2APIC MSR fails with exit reason 34 (bit 31 set), qualification 2 (SDM 27.4, 27.8).
; 9. A VM-exit MSR-load list that names an x2APIC MSR: VMX abort (SDM 28.7), the processor shuts
;    down, and the board resets (qemu-system -no-reboot ends there).
%include "multiboot.inc"
%include "vmx.inc"
%include "vmx_setup.inc"

%define PAGE_DIR    0x00200000
%define VMXON_PAGE  0x00201000
%define VMCS_PAGE   0x00202000
%define SCRATCH     0x00203000
%define EPT_PML4    0x00204000
%define EPT_PDPT    0x00205000
%define EPT_PD0     0x00206000         ; 0-1 GiB
%define EPT_PD3     0x00207000         ; 3-4 GiB: the IOAPIC's 2 MiB
%define IO_BITMAPS  0x00208000         ; A and B, all clear
%define MSR_LISTS   0x0020a000
%define L1_IDT      0x0020b000
%define L2_IDT      0x0020c000
%define L2_STACK    0x00280000
%define IOAPIC      0xfec00000
%define LAPIC       0xfee00000         ; in the same 4 MiB page as the IOAPIC
%define APIC_SVR    LAPIC + 0xf0
%define APIC_ICR    LAPIC + 0x300
%define ICR_SELF_NMI ((1 << 18) | (1 << 14) | (4 << 8))   ; to self, assert, delivery mode NMI
%define EPT_2M_WB   0xb7               ; RWX, WB, 2 MiB page
%define EPT_2M_UC   0x87               ; RWX, UC, 2 MiB page
%define ENTRY_LOAD  MSR_LISTS
%define EXIT_STORE  MSR_LISTS + 0x40
%define EXIT_LOAD   MSR_LISTS + 0x80
%define BAD_LOAD    MSR_LISTS + 0xc0
%define SYSENTER_CS 0x174
%define PIN_BASE    0x16
%define PIN_EXT_INTR (1 << 0)
%define PIN_NMI     (1 << 3)
%define CPU_BASE    (0x04006172 | (1 << 25) | (1 << 31))   ; I/O bitmaps, secondary controls
%define CPU_INTR_WINDOW (1 << 2)
%define EXIT_BASE   0x00036dfb
%define EXIT_ACK    (1 << 15)

main:
    FLAT_GDT
    cli
    ; identity-map 0-128 MiB and the IOAPIC with 4 MiB pages (VMX operation needs CR0.PG)
    mov edi, PAGE_DIR
    mov ecx, 1024
    xor eax, eax
    rep stosd
    mov edi, PAGE_DIR
    mov eax, 0x83
    mov ecx, 32
.pde:
    stosd
    add eax, 0x400000
    loop .pde
    mov dword [PAGE_DIR + (IOAPIC >> 22) * 4], IOAPIC | 0x93   ; PCD: uncached MMIO
    mov eax, PAGE_DIR
    mov cr3, eax
    mov eax, cr4
    or eax, 0x10 | 0x2000              ; PSE, VMXE
    mov cr4, eax
    mov eax, cr0
    or eax, 0x80000020                 ; PG, NE
    mov cr0, eax
    mov ecx, 0x3a                      ; IA32_FEATURE_CONTROL: lock | VMXON outside SMX
    mov eax, 5
    xor edx, edx
    wrmsr

    call init_pic_pit
    mov eax, L1_IDT
    mov ebx, l1_timer
    mov ecx, 0x20
    call set_gate
    lidt [l1_idt_desc]
    mov eax, L2_IDT
    mov ebx, l2_timer
    call set_gate
    mov ebx, l2_nmi
    mov ecx, 2
    call set_gate
    or dword [APIC_SVR], 0x100         ; the local APIC on (it sends the NMIs)

    mov dword [VMXON_PAGE], REVISION
    mov dword [VMCS_PAGE], REVISION
    mov dword [SCRATCH], VMXON_PAGE
    vmxon [SCRATCH]
    mov dword [SCRATCH], VMCS_PAGE
    vmclear [SCRATCH]
    vmptrld [SCRATCH]
    call setup_vmcs

    PRINT "1: exit on interrupt, acknowledged", 10
    VMW PIN_CONTROLS, PIN_BASE | PIN_EXT_INTR
    VMW EXIT_CONTROLS, EXIT_BASE | EXIT_ACK
    VMW GUEST_RIP, l2_spin
    VMW HOST_RIP, phase1_exit
    mov dword [count], 3
    vmlaunch
    PRINT "vmlaunch failed", 10
    ret
phase1_exit:
    call print_exit                    ; exit 1, info 80000020: valid, external, vector 0x20
    call eoi
    dec dword [count]
    jz .next
    vmresume
.next:
    PRINT "2: exit on interrupt, not acknowledged", 10
    VMW EXIT_CONTROLS, EXIT_BASE
    VMW HOST_RIP, phase2_exit
    vmresume
phase2_exit:
    call print_exit                    ; exit 1, info 0: the interrupt is still pending
    sti
.wait:
    cmp dword [l1_vector], 0
    je .wait
    cli
    PRINT "l1 took vector "
    mov eax, [l1_vector]
    call hex32
    call newline

    PRINT "3: no exiting, L2 takes it", 10
    VMW PIN_CONTROLS, PIN_BASE
    VMW GUEST_IDTR_BASE, L2_IDT
    VMW GUEST_IDTR_LIMIT, 0x20 * 8 + 7
    VMW GUEST_RIP, l2_wait_irq
    VMW GUEST_RFLAGS, 2
    VMW HOST_RIP, phase3_exit
    vmresume
phase3_exit:
    call print_exit                    ; exit 18 (VMCALL) after L2's handler ran
    PRINT "l2 took vector "
    mov eax, [l2_vector]
    call hex32
    call newline

    PRINT "4: interrupt window", 10
    mov al, 0xff                       ; no more ticks
    out 0x21, al
    VMW CPU_CONTROLS, CPU_BASE | CPU_INTR_WINDOW
    VMW GUEST_RIP, l2_sti
    VMW GUEST_RFLAGS, 2
    VMW HOST_RIP, phase4_exit
    vmresume
phase4_exit:
    call print_exit                    ; exit 7 once L2's STI has taken effect
    VMW CPU_CONTROLS, CPU_BASE

    PRINT "5: L1 MMIO for L2", 10
    VMW GUEST_RIP, l2_mmio
    VMW GUEST_RFLAGS, 2
    VMW HOST_RIP, phase5_exit
    vmresume
phase5_exit:
    push eax                           ; what L2 read from the IOAPIC's version register
    call print_exit                    ; exit 18
    PRINT "l2 read ioapic version "
    pop eax
    call hex32
    call newline

    PRINT "6: NMI exiting", 10
    VMW PIN_CONTROLS, PIN_BASE | PIN_NMI
    VMW GUEST_RIP, l2_self_nmi
    VMW HOST_RIP, phase6_exit
    vmresume
phase6_exit:
    call print_exit                    ; exit 0, info 80000202: valid, NMI, vector 2

    PRINT "7: NMI through L2's IDT", 10
    VMW PIN_CONTROLS, PIN_BASE
    VMW GUEST_RIP, l2_self_nmi
    VMW HOST_RIP, phase7_exit
    vmresume
phase7_exit:
    call print_exit                    ; exit 18 (VMCALL) after L2's NMI handler ran
    PRINT "l2 took vector "
    mov eax, [l2_nmi_vector]
    call hex32
    call newline

    PRINT "8: MSR lists", 10
    mov dword [ENTRY_LOAD], SYSENTER_CS
    mov dword [ENTRY_LOAD + 8], 0x1234
    mov dword [ENTRY_LOAD + 16], 0x800 ; x2APIC range: refused when the list is this long
    mov dword [EXIT_STORE], SYSENTER_CS
    mov dword [EXIT_LOAD], SYSENTER_CS
    mov dword [EXIT_LOAD + 8], 0x5678
    mov dword [BAD_LOAD], 0x800
    VMW ENTRY_MSR_LOAD_ADDR, ENTRY_LOAD
    VMW ENTRY_MSR_LOAD_COUNT, 1
    VMW EXIT_MSR_STORE_ADDR, EXIT_STORE
    VMW EXIT_MSR_STORE_COUNT, 1
    VMW EXIT_MSR_LOAD_ADDR, EXIT_LOAD
    VMW EXIT_MSR_LOAD_COUNT, 1
    VMW GUEST_RIP, l2_vmcall
    VMW HOST_RIP, phase8_exit
    vmresume
phase8_exit:
    call print_exit                    ; exit 18
    PRINT "l2 had sysenter_cs "
    mov eax, [EXIT_STORE + 8]          ; stored by the VM-exit MSR-store list
    call hex32
    call newline
    call print_sysenter_cs             ; 5678: the VM-exit MSR-load list's, after host state
    mov ecx, SYSENTER_CS
    xor eax, eax
    xor edx, edx
    wrmsr
    VMW ENTRY_MSR_LOAD_COUNT, 2
    VMW HOST_RIP, phase8_failed
    vmresume
    PRINT "vmresume failed", 10
    ret
phase8_failed:
    call print_exit                    ; exit 80000022 qual 2: the second entry failed
    call print_sysenter_cs             ; 5678 again: the exit-load list runs after a failed entry

    PRINT "9: VMX abort", 10
    VMW ENTRY_MSR_LOAD_COUNT, 0
    VMW EXIT_MSR_LOAD_ADDR, BAD_LOAD
    vmresume                           ; L2 does VMCALL; loading L1's MSRs fails: VMX abort
    PRINT "vmresume failed", 10
    ret
    PRINT "no abort", 10
    ret

; ---- L2 ----
l2_spin:
    jmp l2_spin
l2_wait_irq:
    sti
.wait:
    cmp dword [l2_vector], 0
    je .wait
    vmcall
l2_sti:
    sti
    nop
    jmp l2_sti
l2_self_nmi:
    mov dword [APIC_ICR], ICR_SELF_NMI
.wait:
    cmp dword [l2_nmi_vector], 0       ; with NMI exiting, L1 gets the NMI instead
    je .wait
    vmcall
l2_mmio:
    mov dword [IOAPIC], 1              ; IOREGSEL: the version register
    mov eax, [IOAPIC + 0x10]           ; IOWIN
l2_vmcall:
    vmcall
    jmp l2_vmcall

; the timer handlers: L1's and L2's record the vector and send the PIC its EOI
l1_timer:
    mov dword [l1_vector], 0x20
    call eoi
    iretd
l2_timer:
    mov dword [l2_vector], 0x20
    call eoi
    iretd
l2_nmi:
    mov dword [l2_nmi_vector], 2
    iretd

; ---- helpers ----
eoi:
    push eax
    mov al, 0x20
    out 0x20, al
    pop eax
    ret

; print_exit: "exit R qual Q info I" from the current VMCS (keeps EAX)
print_exit:
    push eax
    PRINT "exit "
    mov eax, EXIT_REASON
    vmread eax, eax
    call hex32
    PRINT " qual "
    mov eax, EXIT_QUAL
    vmread eax, eax
    call hex32
    PRINT " info "
    mov eax, EXIT_INTR_INFO
    vmread eax, eax
    call hex32
    call newline
    pop eax
    ret

print_sysenter_cs:
    PRINT "l1 has sysenter_cs "
    mov ecx, SYSENTER_CS
    rdmsr
    call hex32
    call newline
    ret

; PIC: vectors 0x20-0x2f, only IRQ0 unmasked; PIT channel 0: rate generator, about 1 kHz
init_pic_pit:
    mov al, 0x11
    out 0x20, al
    out 0xa0, al
    mov al, 0x20
    out 0x21, al
    mov al, 0x28
    out 0xa1, al
    mov al, 4
    out 0x21, al
    mov al, 2
    out 0xa1, al
    mov al, 1
    out 0x21, al
    out 0xa1, al
    mov al, 0xfe
    out 0x21, al
    mov al, 0xff
    out 0xa1, al
    mov al, 0x34
    out 0x43, al
    mov ax, 1193
    out 0x40, al
    mov al, ah
    out 0x40, al
    ret

; set_gate: IDT at EAX, vector ECX -> handler EBX (32-bit interrupt gate, CS 0x08)
set_gate:
    push ebx
    mov [eax + ecx * 8], bx
    mov word [eax + ecx * 8 + 2], 0x08
    mov word [eax + ecx * 8 + 4], 0x8e00
    shr ebx, 16
    mov [eax + ecx * 8 + 6], bx
    pop ebx
    ret

setup_vmcs:
    VMW PIN_CONTROLS, PIN_BASE
    VMW CPU_CONTROLS, CPU_BASE
    VMW SECONDARY_CONTROLS, 1 << 1     ; EPT
    mov edi, IO_BITMAPS
    xor eax, eax
    mov ecx, 2 * 1024
    rep stosd
    VMW IO_BITMAP_A, IO_BITMAPS
    VMW IO_BITMAP_B, IO_BITMAPS + 0x1000
    ; EPT: identity for GPA 0-128 MiB and the IOAPIC's 2 MiB
    mov edi, EPT_PML4
    xor eax, eax
    mov ecx, 4 * 1024
    rep stosd
    mov dword [EPT_PML4], EPT_PDPT | 7
    mov dword [EPT_PDPT], EPT_PD0 | 7
    mov dword [EPT_PDPT + 3 * 8], EPT_PD3 | 7
    mov edi, EPT_PD0
    mov eax, EPT_2M_WB
    mov ecx, 64
.ept:
    mov [edi], eax
    add edi, 8
    add eax, 0x200000
    loop .ept
    mov dword [EPT_PD3 + ((IOAPIC >> 21) & 0x1ff) * 8], IOAPIC | EPT_2M_UC
    mov dword [EPT_PD3 + ((LAPIC >> 21) & 0x1ff) * 8], LAPIC | EPT_2M_UC
    VMW EPT_POINTER, EPT_PML4 | 6 | (3 << 3)   ; WB, 4-level walk
    VMW EXIT_CONTROLS, EXIT_BASE
    VMW ENTRY_CONTROLS, 0x000011fb
    VMW EXCEPTION_BITMAP, 0
    HOST_AS_GUEST gdt, L1_IDT
    mov ecx, esp                       ; main's frame: a handler's RET leaves main
    add ecx, 4
    VMW HOST_RSP, ecx
    FLAT_GUEST_SEGMENTS gdt, gdt_end
    VMW GUEST_RSP, L2_STACK
    VMW GUEST_RFLAGS, 2
    VMW VMCS_LINK_POINTER, 0xffffffff
    VMW VMCS_LINK_POINTER + 1, 0xffffffff
    ret

count:     dd 0
l1_vector: dd 0
l2_vector: dd 0
l2_nmi_vector: dd 0

HYPERVISOR_GDT
l1_idt_desc:
    dw 0x20 * 8 + 7
    dd L1_IDT
