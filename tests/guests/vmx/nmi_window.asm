; golden: none
; Virtual NMIs and NMI-window exiting (Intel SDM Vol. 3C: 25.3 on IRET and virtual-NMI blocking,
; 26.7.6 "NMI-Window Exiting", 27.2.1.1 and 27.3.1.5 on the VM-entry checks). QEMU's TCG has no
; VMX, so tests/golden/vmx/nmi_window.txt follows the SDM, as the comment at each step says.
; tests/vmx/nested_test.ts runs it under -accel kvm with kvm_intel nested=1 too (L0 offers L1 both
; controls), which must print the same.
;
; L1 prints every exit of L2: reason, L2's RIP as an offset into l2_code, its interruptibility
; state, and ECX (which L2's NMI handler sets).
; 1. NMI-window exiting without virtual NMIs, and virtual NMIs without NMI exiting: VMLAUNCH fails
;    with VMfailValid(7).
; 2. Virtual NMIs and NMI-window exiting, nothing blocked: exit 8 before L2's first instruction.
; 3. Virtual-NMI blocking in the guest state: no exit until L2's IRET ends it, then exit 8 before
;    the instruction after the IRET.
; 4. An injected NMI: L2's handler runs under virtual-NMI blocking, and its IRET opens the window
;    (exit 8 where the NMI interrupted L2).
; 5. Injecting an NMI while virtual NMIs are blocked: the entry fails (exit 80000021).
; 6. Step 4 again with L1's EPT on, after INVEPT: the same. (Nested, L2's IDT is not in EPT02 yet,
;    so L0 fills it during the NMI's delivery and delivers the NMI again itself, with blocking by
;    NMI cleared as the entry checks require under virtual NMIs.)
%include "multiboot.inc"
%include "vmx.inc"
%include "vmx_setup.inc"

%define PAGE_DIR    0x00200000
%define VMXON_PAGE  0x00201000
%define VMCS_PAGE   0x00202000
%define SCRATCH     0x00203000
%define L2_IDT      0x00204000
%define EPT_PML4    0x00205000
%define EPT_PDPT    0x00206000
%define EPT_PD      0x00207000
%define L2_STACK    0x00280000
%define INTERRUPTIBILITY 0x4824
%define ENTRY_INTR_INFO  0x4016
%define PIN_NMI_EXITING  (1 << 3)
%define PIN_VIRTUAL_NMIS (1 << 5)
%define CPU_NMI_WINDOW   (1 << 22)
%define CPU_BASE    0x04006172
%define INJECT_NMI  0x80000202         ; valid, type NMI (2), vector 2

; FLAGS_ERROR "label": prints the label, CF, ZF and the VM-instruction error after a VMX instruction
%macro FLAGS_ERROR 1
    pushfd
    PRINT %1
    pop eax
    push eax
    PRINT "CF="
    and eax, 1
    call hex32
    pop eax
    PRINT " ZF="
    shr eax, 6
    and eax, 1
    call hex32
    PRINT_FIELD " error ", INSN_ERROR
    call newline
%endmacro

main:
    FLAT_GDT
    IDENTITY_PAGING PAGE_DIR
    ; L2's IDT: an interrupt gate for the NMI (vector 2)
    mov edi, L2_IDT
    xor eax, eax
    mov ecx, 2 * 256
    rep stosd
    mov eax, l2_nmi
    mov [L2_IDT + 2 * 8], ax
    mov word [L2_IDT + 2 * 8 + 2], 0x08
    mov word [L2_IDT + 2 * 8 + 4], 0x8e00
    shr eax, 16
    mov [L2_IDT + 2 * 8 + 6], ax
    VMX_ON VMXON_PAGE, VMCS_PAGE, SCRATCH
    call setup_vmcs

    PRINT "1. controls", 10
    VMW PIN_CONTROLS, 0x16 | PIN_NMI_EXITING
    VMW CPU_CONTROLS, CPU_BASE | CPU_NMI_WINDOW
    vmlaunch
    FLAGS_ERROR "nmi window without virtual nmis: "
    VMW PIN_CONTROLS, 0x16 | PIN_VIRTUAL_NMIS
    VMW CPU_CONTROLS, CPU_BASE
    vmlaunch
    FLAGS_ERROR "virtual nmis without nmi exiting: "

    PRINT "2. window open at entry", 10
    VMW PIN_CONTROLS, 0x16 | PIN_NMI_EXITING | PIN_VIRTUAL_NMIS
    VMW CPU_CONTROLS, CPU_BASE | CPU_NMI_WINDOW
    VMW GUEST_RIP, l2_code
    call run_l2                        ; exit 8 at +0, interruptibility 0

    PRINT "3. virtual-NMI blocking until IRET", 10
    VMW INTERRUPTIBILITY, 8            ; blocking by NMI: virtual-NMI blocking
    call run_l2                        ; exit 18 (VMCALL) at +5, still blocked (8): no window
    call skip_vmcall
    call run_l2                        ; exit 8 at +11h (after the IRET), interruptibility 0

    PRINT "4. injected nmi", 10
    VMW GUEST_RIP, l2_code
    VMW ENTRY_INTR_INFO, INJECT_NMI
    call run_l2                        ; exit 8 at +0 once the handler's IRET ends the blocking
                                       ; the injection set; ECX 22 from the handler

    PRINT "5. nmi injected while blocked", 10
    VMW INTERRUPTIBILITY, 8
    VMW ENTRY_INTR_INFO, INJECT_NMI
    call run_l2                        ; exit 80000021: invalid guest state

    PRINT "6. injected nmi, EPT after INVEPT", 10
    EPT_IDENTITY EPT_PML4, EPT_PDPT, EPT_PD
    VMW CPU_CONTROLS, CPU_BASE | CPU_NMI_WINDOW | (1 << 31)
    VMW SECONDARY_CONTROLS, 1 << 1     ; EPT
    mov dword [SCRATCH], EPT_PML4 | 6 | (3 << 3)
    mov dword [SCRATCH + 4], 0
    mov dword [SCRATCH + 8], 0
    mov dword [SCRATCH + 12], 0
    mov eax, 1                         ; single context
    invept eax, [SCRATCH]
    VMW INTERRUPTIBILITY, 0
    VMW GUEST_RIP, l2_code
    VMW ENTRY_INTR_INFO, INJECT_NMI
    xor ecx, ecx                       ; L2's ECX: the handler sets it
    call run_l2                        ; exit 8 at +0, ECX 22, as in step 4
    vmxoff
    ret

skip_vmcall:
    mov eax, GUEST_RIP
    vmread ebx, eax
    add ebx, 3
    vmwrite eax, ebx
    ret

; run_l2: VMLAUNCH the first time, VMRESUME after; prints the exit
run_l2:
    VMW GUEST_RSP, L2_STACK
    ENTER_L2
vm_exit:
    mov esp, [l1_esp]
    PRINT_FIELD "exit ", EXIT_REASON
    PRINT " rip +"
    mov eax, GUEST_RIP
    vmread eax, eax
    sub eax, l2_code
    call hex32
    PRINT_FIELD " interruptibility ", INTERRUPTIBILITY
    PRINT " ecx "
    mov eax, ecx
    call hex32
    call newline
    ret

l1_esp:   dd 0
launched: db 0

; ---- L2 ----
l2_code:
    mov ecx, 0x11                      ; +0
    vmcall                             ; +5
    pushfd                             ; +8: an IRET frame back to l2_after
    push dword 0x08
    push dword l2_after
    iret
l2_after:
    nop
    vmcall
l2_nmi:
    mov ecx, 0x22
    iret

setup_vmcs:
    VMW PIN_CONTROLS, 0x16
    VMW CPU_CONTROLS, CPU_BASE
    VMW EXIT_CONTROLS, 0x00036dfb
    VMW ENTRY_CONTROLS, 0x000011fb
    VMW EXCEPTION_BITMAP, 0
    HOST_AS_GUEST gdt, 0
    VMW HOST_RSP, STACK_TOP - 0x100    ; vm_exit takes L1's stack back from l1_esp
    VMW HOST_RIP, vm_exit
    FLAT_GUEST_SEGMENTS gdt, gdt_end
    VMW GUEST_IDTR_BASE, L2_IDT
    VMW GUEST_IDTR_LIMIT, 256 * 8 - 1
    GUEST_START l2_code, L2_STACK
    ret

HYPERVISOR_GDT
