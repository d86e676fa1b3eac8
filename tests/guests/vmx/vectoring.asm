; golden: none
; IDT-vectoring information (Intel SDM Vol. 3C, 28.2.4 "Information for VM Exits During Event
; Delivery", and 28.2.3/31.7.1.1 on delivering such an event again). QEMU's TCG has no VMX, so
; tests/golden/vmx/vectoring.txt follows the SDM, as the comment at each step says. Instruction
; length is undefined for exits that no instruction caused (a fault, an EPT violation on the IDT);
; this implementation reports 0 there, and the length of INT n for its software interrupt.
;
; L1 runs L2 and prints every exit: reason, qualification, instruction length, exit interruption
; information (and its error code), IDT-vectoring information (and its error code). Each event
; cut short is delivered again by L1 from the IDT-vectoring fields (VM-entry interruption
; information, error code and instruction length), and L2's handler reports its vector by VMCALL.
; 1. L2 writes port 0x80, which L1's I/O bitmaps let through (no exit to L1), then VMCALLs.
;    (tests/vmx/nested_test.ts reads L2's registers through KVM_GET_REGS/SREGS at that write.)
; 2. L1 injects #GP(1234h) while L2's IDT is missing from EPT: EPT violation (exit 48) with the
;    injected event in the IDT-vectoring fields.
; 3. L2's INT 31h with the IDT missing again (after INVEPT): exit 48, a software interrupt (type 4)
;    in the IDT-vectoring information and INT's length (2) in the instruction length.
; 4. L2's UD2 with its stack not present in its page tables, under #PF exiting: exit 0 (#PF,
;    error code 2, qualification the address pushed to), and the #UD being delivered (type 3).
; 5. L2 sets TF after L1's INVEPT: the #DB trap after its next instruction reaches L2's handler
;    (no exit to L1; nested, L0 fills EPT02 for L2's IDT during the delivery and delivers the
;    #DB again itself, as Linux's vmx_complete_interrupts).
%include "multiboot.inc"
%include "vmx.inc"
%include "vmx_setup.inc"

%define PAGE_DIR    0x00200000         ; L1: 4 MiB identity pages, 0-128 MiB
%define L2_PAGE_DIR 0x00201000         ; L2: the same; its stack's page comes and goes
%define VMXON_PAGE  0x00202000
%define VMCS_PAGE   0x00203000
%define DESCRIPTOR  0x00204000         ; VMXON/VMPTRLD/INVEPT operand
%define EPT_PML4    0x00205000
%define EPT_PDPT    0x00206000
%define EPT_PD      0x00207000
%define IO_BITMAPS  0x00208000         ; A and B, all clear
%define L2_IDT      0x00a00000         ; alone in its 2 MiB of guest-physical memory
%define L2_STACK    0x00c01000         ; alone in its 4 MiB page of L2's
%define EPT_2M      0xb7               ; RWX, WB, 2 MiB
%define PDE_4M      0x83
%define EPTP        EPT_PML4 | 6 | (3 << 3)
%define L2_MARK     0x12345678

; fields vmx.inc does not name
%define ENTRY_INTR_INFO   0x4016
%define ENTRY_ERROR_CODE  0x4018
%define ENTRY_INSN_LEN    0x401A
%define EXIT_INTR_ERROR   0x4406
%define IDT_VECTORING     0x4408
%define IDT_VECTORING_ERROR 0x440A

main:
    FLAT_GDT
    ; paging: 0-128 MiB identity for both L1 and L2
    IDENTITY_PAGING PAGE_DIR
    mov esi, PAGE_DIR
    mov edi, L2_PAGE_DIR
    mov ecx, 1024
    rep movsd
    mov edi, IO_BITMAPS
    xor eax, eax
    mov ecx, 2 * 1024
    rep stosd
    ; L2's IDT: interrupt gates for #DB, #UD, #GP and 31h
    mov edi, L2_IDT
    xor eax, eax
    mov ecx, 2 * 256
    rep stosd
    mov eax, l2_ud_handler
    mov ebx, 6
    call set_gate
    mov eax, l2_gp_handler
    mov ebx, 13
    call set_gate
    mov eax, l2_db_handler
    mov ebx, 1
    call set_gate
    mov eax, l2_int31_handler
    mov ebx, 0x31
    call set_gate
    VMX_ON VMXON_PAGE, VMCS_PAGE, DESCRIPTOR
    EPT_IDENTITY EPT_PML4, EPT_PDPT, EPT_PD  ; guest-physical 0-128 MiB, 2 MiB pages
    call setup_vmcs

    PRINT "1. port 0x80 passed through", 10
    VMW GUEST_RIP, l2_port
    call run_l2                        ; exit 18 (VMCALL), length 3; nothing in flight
    PRINT "l2 eax "
    mov eax, [l2_eax]
    call hex32
    call newline

    PRINT "2. injected #GP(1234), IDT not in EPT", 10
    mov dword [EPT_PD + (L2_IDT >> 21) * 8], 0
    call invept
    VMW ENTRY_INTR_INFO, 0x80000b0d    ; valid, error code, hardware exception, #GP
    VMW ENTRY_ERROR_CODE, 0x1234
    call run_l2                        ; exit 48, read (bit 0) of a linear address (bits 7, 8):
                                       ; qualification 181; IDT-vectoring 80000b0d, error 1234
    mov dword [EPT_PD + (L2_IDT >> 21) * 8], L2_IDT | EPT_2M
    call redeliver
    call run_l2                        ; exit 18: the #GP handler, error code 1234 on its stack
    call print_handler

    PRINT "3. int 31, IDT not in EPT", 10
    mov dword [EPT_PD + (L2_IDT >> 21) * 8], 0
    call invept
    VMW GUEST_RIP, l2_int
    call run_l2                        ; exit 48; IDT-vectoring 80000431, length 2
    mov dword [EPT_PD + (L2_IDT >> 21) * 8], L2_IDT | EPT_2M
    call redeliver
    call run_l2                        ; exit 18: the INT 31h handler
    call print_handler

    PRINT "4. ud2, stack not present, #PF exiting", 10
    mov dword [L2_PAGE_DIR + (L2_STACK >> 22) * 4], 0
    VMW EXCEPTION_BITMAP, 1 << 14
    VMW GUEST_RIP, l2_ud
    call run_l2                        ; exit 0: #PF (80000b0e, error 2: write, not present) at
                                       ; L2_STACK - 4; IDT-vectoring 80000306 (#UD, no error code)
    mov dword [L2_PAGE_DIR + (L2_STACK >> 22) * 4], (L2_STACK & 0xffc00000) | PDE_4M
    call redeliver
    call run_l2                        ; exit 18: the #UD handler
    call print_handler

    PRINT "5. single step after INVEPT", 10
    call invept
    VMW EXCEPTION_BITMAP, 0
    VMW GUEST_RIP, l2_step
    call run_l2                        ; exit 18: the #DB handler, returning to l2_step + 0ah
    call print_handler                 ; (nested, L2's IDT page was no longer in L0's EPT02)
    vmxoff
    ret

; set_gate: a 32-bit interrupt gate in L2's IDT for vector EBX to handler EAX
set_gate:
    mov [L2_IDT + ebx * 8], ax
    mov word [L2_IDT + ebx * 8 + 2], 0x08
    mov word [L2_IDT + ebx * 8 + 4], 0x8e00
    shr eax, 16
    mov [L2_IDT + ebx * 8 + 6], ax
    ret

invept:
    mov dword [DESCRIPTOR], EPTP
    mov dword [DESCRIPTOR + 4], 0
    mov dword [DESCRIPTOR + 8], 0
    mov dword [DESCRIPTOR + 12], 0
    mov eax, 1                         ; single context
    invept eax, [DESCRIPTOR]
    ret

; redeliver: the event in the IDT-vectoring fields goes into the VM-entry fields (bit 12 of the
; information is not an injection bit and is cleared), so the next entry delivers it again
redeliver:
    mov eax, IDT_VECTORING
    vmread ebx, eax
    and ebx, ~(1 << 12)
    mov eax, ENTRY_INTR_INFO
    vmwrite eax, ebx
    mov eax, IDT_VECTORING_ERROR
    vmread ebx, eax
    mov eax, ENTRY_ERROR_CODE
    vmwrite eax, ebx
    mov eax, EXIT_INSN_LEN
    vmread ebx, eax
    mov eax, ENTRY_INSN_LEN
    vmwrite eax, ebx
    ret

print_handler:
    PRINT "l2 handler: vector "
    mov eax, [l2_eax]
    call hex32
    PRINT " ebx "
    mov eax, [l2_ebx]
    call hex32
    call newline
    ret

; run_l2: VMLAUNCH the first time, VMRESUME after, on L2's fresh stack; prints the exit
run_l2:
    VMW GUEST_RSP, L2_STACK
    ENTER_L2
vm_exit:
    mov esp, [l1_esp]
    mov [l2_eax], eax
    mov [l2_ebx], ebx
    PRINT_FIELD "exit ", EXIT_REASON
    PRINT_FIELD " qual ", EXIT_QUAL
    PRINT_FIELD " len ", EXIT_INSN_LEN
    call newline
    PRINT_FIELD "  intr ", EXIT_INTR_INFO
    mov eax, EXIT_INTR_INFO
    vmread eax, eax
    test eax, 1 << 11
    jz .vectoring
    PRINT_FIELD " error ", EXIT_INTR_ERROR
.vectoring:
    PRINT_FIELD " vectoring ", IDT_VECTORING
    mov eax, IDT_VECTORING
    vmread eax, eax
    test eax, 1 << 11
    jz .done
    PRINT_FIELD " error ", IDT_VECTORING_ERROR
.done:
    call newline
    mov eax, EXIT_REASON
    vmread eax, eax
    cmp eax, 18                        ; VMCALL: L2 goes on after it next time
    jne .ret
    mov eax, GUEST_RIP
    vmread ebx, eax
    mov ecx, EXIT_INSN_LEN
    vmread ecx, ecx
    add ebx, ecx
    vmwrite eax, ebx
.ret:
    ret

l1_esp:   dd 0
l2_eax:   dd 0
l2_ebx:   dd 0
launched: db 0

; ---- L2 ----
l2_port:
    mov eax, L2_MARK
    out 0x80, eax
    vmcall
l2_int:
    int 0x31
l2_ud:
    ud2
l2_step:
    pushfd
    or dword [esp], 0x100              ; TF: a #DB trap after the next instruction
    popfd
    nop
    mov eax, 0xbad                     ; not reached: the #DB handler VMCALLs
    vmcall
l2_db_handler:
    mov ebx, [esp]                     ; the EIP it returns to: right after the NOP
    sub ebx, l2_step
    mov eax, 1
    vmcall
l2_gp_handler:
    pop ebx                            ; the error code
    mov eax, 13
    vmcall
l2_int31_handler:
    xor ebx, ebx
    mov eax, 0x31
    vmcall
l2_ud_handler:
    xor ebx, ebx
    mov eax, 6
    vmcall

; ---- the VMCS ----
setup_vmcs:
    VMW PIN_CONTROLS, 0x16
    ; I/O bitmaps (all clear), secondary controls: EPT
    VMW CPU_CONTROLS, 0x04006172 | (1 << 25) | (1 << 31)
    VMW SECONDARY_CONTROLS, 1 << 1
    VMW IO_BITMAP_A, IO_BITMAPS
    VMW IO_BITMAP_B, IO_BITMAPS + 0x1000
    VMW EXIT_CONTROLS, 0x00036dfb
    VMW ENTRY_CONTROLS, 0x000011fb
    HOST_AS_GUEST gdt, 0
    VMW GUEST_CR3, L2_PAGE_DIR
    VMW HOST_RSP, STACK_TOP - 0x100       ; vm_exit takes L1's stack back from l1_esp
    VMW HOST_RIP, vm_exit
    FLAT_GUEST_SEGMENTS gdt, gdt_end
    VMW GUEST_IDTR_BASE, L2_IDT
    VMW GUEST_IDTR_LIMIT, 256 * 8 - 1
    VMW GUEST_RFLAGS, 2
    VMW VMCS_LINK_POINTER, 0xffffffff
    VMW VMCS_LINK_POINTER + 1, 0xffffffff
    ret

HYPERVISOR_GDT
