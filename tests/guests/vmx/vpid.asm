; golden: none
; VPID- and EPTP-tagged TLB entries (Intel SDM Vol. 3C, "Caching Translation Information" and
; "Invalidating Cached Mappings"). QEMU's TCG has no VMX, so tests/golden/vmx/vpid.txt is derived
; from the SDM: a processor may keep a mapping until software invalidates it, and these steps show
; the mappings this implementation keeps and what each invalidation drops.
;
; L2 reads the dword at linear TEST and VMCALLs; L1 prints the value it read. L2's page directory
; maps TEST with a 4 MiB page onto PAGE_A (which holds 0xa) or PAGE_B (0xb). L1 moves that mapping
; between steps, sometimes without invalidating it:
; - with VPID 1, VM exits and entries keep L2's TLB entries, so a changed PDE is not seen until
;   INVVPID drops the entry: individual address (type 0, only that page), single context (type 1,
;   only that VPID), all contexts (type 2), single context retaining globals (type 3: the PDE is
;   not global, so it goes);
; - with VPID disabled, L2 runs as VPID 0, and every entry and exit invalidates VPID 0's mappings;
; - with EPT, L2's entries are combined mappings tagged by the EPT PML4 too: a changed EPT entry
;   is not seen until INVEPT (single context for that EPTP, or all contexts) drops them.
%include "multiboot.inc"
%include "vmx.inc"
%include "vmx_setup.inc"

%define PAGE_DIR    0x00200000         ; L1: 4 MiB identity pages, 0-128 MiB
%define L2_PAGE_DIR 0x00201000         ; L2: the same, plus TEST
%define VMXON_PAGE  0x00202000
%define VMCS_PAGE   0x00203000
%define DESCRIPTOR  0x00204000         ; INVVPID/INVEPT descriptor, 16 bytes
%define EPT_PML4    0x00205000
%define EPT_PDPT    0x00206000
%define EPT_PD      0x00207000
%define L2_STACK    0x00280000
%define PAGE_A      0x00800000
%define PAGE_B      0x00c00000
%define TEST        0x10000000
%define PDE_4M      0x83               ; present, writable, 4 MiB
%define EPT_2M      0xb7               ; RWX, WB, 2 MiB
%define EPTP        EPT_PML4 | 6 | (3 << 3)

%define VIRTUAL_PROCESSOR_ID 0x0000
%define SEC_EPT  (1 << 1)
%define SEC_VPID (1 << 5)

; L2MAP page: points L2's PDE for TEST at a page (no invalidation)
%macro L2MAP 1
    mov dword [L2_PAGE_DIR + (TEST >> 22) * 4], %1 | PDE_4M
%endmacro

; INV insn, type, first dword, address: INVVPID or INVEPT with a descriptor at DESCRIPTOR
%macro INV 4
    mov dword [DESCRIPTOR], %3
    mov dword [DESCRIPTOR + 4], 0
    mov dword [DESCRIPTOR + 8], %4
    mov dword [DESCRIPTOR + 12], 0
    mov eax, %2
    %1 eax, [DESCRIPTOR]
%endmacro

; STEP "label": runs L2 once more and prints the label and the value L2 read
%macro STEP 1
    PRINT %1
    call run_l2
%endmacro

main:
    FLAT_GDT
    mov dword [PAGE_A], 0xa
    mov dword [PAGE_B], 0xb
    ; paging: 0-128 MiB identity for both L1 and L2, TEST for L2 only (L2MAP)
    IDENTITY_PAGING PAGE_DIR
    mov esi, PAGE_DIR
    mov edi, L2_PAGE_DIR
    mov ecx, 1024
    rep movsd
    VMX_ON VMXON_PAGE, VMCS_PAGE, DESCRIPTOR
    EPT_IDENTITY EPT_PML4, EPT_PDPT, EPT_PD  ; guest-physical 0-128 MiB, 2 MiB pages
    call setup_vmcs

    L2MAP PAGE_A
    STEP "vpid 1, first read: "        ; a
    L2MAP PAGE_B
    STEP "pde changed, no invalidation: " ; a: the entry survived the exit and the entry
    INV invvpid, 0, 1, TEST
    STEP "invvpid individual address: " ; b
    L2MAP PAGE_A
    INV invvpid, 0, 1, TEST + 0x400000
    STEP "invvpid another address: "   ; b: only that page went
    INV invvpid, 1, 2, 0
    STEP "invvpid single context, vpid 2: " ; b: not L2's VPID
    INV invvpid, 1, 1, 0
    STEP "invvpid single context, vpid 1: " ; a
    L2MAP PAGE_B
    INV invvpid, 2, 0, 0
    STEP "invvpid all contexts: "      ; b
    L2MAP PAGE_A
    INV invvpid, 3, 1, 0
    STEP "invvpid retaining globals: " ; a: the PDE is not global
    L2MAP PAGE_B
    VMW SECONDARY_CONTROLS, 0
    STEP "vpid disabled: "             ; b: the entry invalidated VPID 0's mappings
    L2MAP PAGE_A
    STEP "vpid disabled again: "       ; a
    L2MAP PAGE_B
    VMW SECONDARY_CONTROLS, SEC_VPID
    STEP "vpid 1 again: "              ; a: VPID 1's entry from before VPID 0's runs is still there

    ; EPT: TEST's guest-physical page (PAGE_A) moves to host-physical PAGE_B in EPT. The tag now
    ; includes the EPT PML4, so VPID 1's linear mappings do not apply.
    L2MAP PAGE_A
    VMW SECONDARY_CONTROLS, SEC_VPID | SEC_EPT
    STEP "ept, first read: "           ; a
    mov dword [EPT_PD + (PAGE_A >> 21) * 8], PAGE_B | EPT_2M
    STEP "ept entry changed, no invalidation: " ; a: the combined mapping survived
    INV invept, 1, EPTP, 0
    STEP "invept single context: "     ; b
    mov dword [EPT_PD + (PAGE_A >> 21) * 8], PAGE_A | EPT_2M
    INV invept, 2, 0, 0
    STEP "invept all contexts: "       ; a
    vmxoff
    ret

; run_l2: VMLAUNCH the first time, VMRESUME after; prints the dword L2 read (its EAX at VMCALL)
run_l2:
    ENTER_L2
vm_exit:
    mov esp, [l1_esp]
    mov [l2_eax], eax
    mov eax, EXIT_REASON
    vmread eax, eax
    cmp eax, 18                        ; VMCALL
    jne failed
    mov eax, GUEST_RIP                 ; past the VMCALL
    vmread ebx, eax
    mov ecx, EXIT_INSN_LEN
    vmread ecx, ecx
    add ebx, ecx
    vmwrite eax, ebx
    mov eax, [l2_eax]
    call hex32
    call newline
    ret

l1_esp:   dd 0
l2_eax:   dd 0
launched: db 0

; ---- L2 ----
l2_entry:
    mov eax, [TEST]
    vmcall
    jmp l2_entry

; ---- the VMCS: a table of (field, value), then the guest's flat segments ----
vmcs_table:
    dd 0x4000, 0x16                    ; pin-based: the default1 bits
    dd 0x4002, 0x04006172 | (1 << 31)  ; processor-based: default1, secondary controls
    dd SECONDARY_CONTROLS, SEC_VPID
    dd VIRTUAL_PROCESSOR_ID, 1
    dd EPT_POINTER, EPTP
    dd 0x400C, 0x00036dfb              ; exit controls
    dd 0x4012, 0x000011fb              ; entry controls
    dd 0x0C00, 0x10                    ; host ES, CS, SS, DS, TR
    dd 0x0C02, 0x08
    dd 0x0C04, 0x10
    dd 0x0C06, 0x10
    dd 0x0C0C, 0x18
    dd 0x6C0C, gdt                     ; host GDTR base
    dd 0x6C16, vm_exit                 ; host RIP
    dd 0x6802, L2_PAGE_DIR             ; guest CR3
    dd GUEST_ES_AR + 12, 0x10000       ; LDTR unusable
    dd GUEST_ES_SELECTOR + 14, 0x18    ; TR: a busy 32-bit TSS
    dd GUEST_ES_LIMIT + 14, 0x67
    dd GUEST_ES_AR + 14, 0x8b
    dd 0x6816, gdt                     ; guest GDTR
    dd 0x4810, gdt_end - gdt - 1
    dd 0x681A, 0x400                   ; guest DR7
    dd 0x681C, L2_STACK                ; guest RSP, RIP, RFLAGS
    dd GUEST_RIP, l2_entry
    dd 0x6820, 2
    dd 0x2800, 0xffffffff              ; VMCS link pointer
    dd 0x2801, 0xffffffff
vmcs_table_end:

setup_vmcs:
    mov esi, vmcs_table
.field:
    mov eax, [esi]
    vmwrite eax, [esi + 4]
    add esi, 8
    cmp esi, vmcs_table_end
    jb .field
    mov ecx, cr0
    VMW HOST_CR0, ecx
    VMW GUEST_CR0, ecx
    mov ecx, cr3
    VMW HOST_CR3, ecx
    mov ecx, cr4
    VMW HOST_CR4, ecx
    VMW GUEST_CR4, ecx
    ; guest ES CS SS DS FS GS: flat, CS code
    xor esi, esi
.seg:
    lea eax, [GUEST_ES_SELECTOR + esi * 2]
    mov ebx, 0x10
    mov edx, 0xc093
    cmp esi, 1
    jne .data
    mov ebx, 0x08
    mov edx, 0xc09b
.data:
    vmwrite eax, ebx
    lea eax, [GUEST_ES_AR + esi * 2]
    vmwrite eax, edx
    lea eax, [GUEST_ES_LIMIT + esi * 2]
    mov ebx, 0xffffffff
    vmwrite eax, ebx
    lea eax, [GUEST_ES_BASE + esi * 2]
    xor ebx, ebx
    vmwrite eax, ebx
    inc esi
    cmp esi, 6
    jb .seg
    ret

HYPERVISOR_GDT
