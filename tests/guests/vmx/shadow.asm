; golden: none
; VMCS shadowing (Intel SDM Vol. 3C, 25.10 "VMCS Types", 27.2.1.1 and 27.3.1.5 entry checks, 30.3
; VMPTRLD, VMREAD, VMWRITE, VMLAUNCH). QEMU's TCG has no VMX, so tests/golden/vmx/shadow.txt is
; derived from the SDM:
; - IA32_VMX_PROCBASED_CTLS2 allows "VMCS shadowing" (bit 14 of its allowed-1 half);
; - a region whose revision has bit 31 set (a shadow VMCS) can be made current and filled with
;   VMWRITE, but VMLAUNCH of it is VMfailInvalid;
; - L2, with shadowing on, the link pointer at that shadow VMCS and GUEST_RIP's bits clear in both
;   bitmaps (EXIT_REASON's in the VMREAD bitmap only): VMREAD of GUEST_RIP reads the shadow's value
;   and VMWRITE of it writes the shadow, without VM exits; VMREAD of GUEST_RFLAGS exits (reason
;   23), and so does VMWRITE of EXIT_REASON (reason 25) though VMREAD of it does not;
; - L1 finds L2's VMWRITE in the shadow VMCS after VMCLEAR and VMPTRLD of it;
; - VM entry fails when the link pointer names an ordinary VMCS (exit reason 80000021h,
;   qualification 4) and VMfailValid(7) when a bitmap address is not 4K-aligned.
%include "multiboot.inc"
%include "vmx.inc"
%include "vmx_setup.inc"

%define PAGE_DIR      0x00200000
%define VMXON_PAGE    0x00202000
%define VMCS_PAGE     0x00203000
%define SCRATCH       0x00204000
%define SHADOW_PAGE   0x00205000
%define READ_BITMAP   0x00206000
%define WRITE_BITMAP  0x00207000
%define L2_STACK      0x00280000

%define VMREAD_BITMAP  0x2026
%define VMWRITE_BITMAP 0x2028
%define SEC_SHADOW     (1 << 14)

; LOAD page: VMPTRLD of a page (through SCRATCH)
%macro LOAD 1
    mov dword [SCRATCH], %1
    mov dword [SCRATCH + 4], 0
    vmptrld [SCRATCH]
%endmacro

; CLEAR page: VMCLEAR of a page
%macro CLEAR 1
    mov dword [SCRATCH], %1
    mov dword [SCRATCH + 4], 0
    vmclear [SCRATCH]
%endmacro

; CLEAR_BIT bitmap, field: the field's bit (encoding bits 14:0) clear: no exit for it
%macro CLEAR_BIT 2
    and byte [%1 + ((%2) >> 3)], ~(1 << ((%2) & 7)) & 0xff
%endmacro

; PRINT_FLAGS "label": prints the label, then CF and ZF as a VMX instruction left them
%macro PRINT_FLAGS 1
    pushfd
    PRINT %1
    pop edx
    PRINT "cf "
    mov eax, edx
    and eax, 1
    call hex32
    PRINT " zf "
    mov eax, edx
    shr eax, 6
    and eax, 1
    call hex32
    call newline
%endmacro

main:
    FLAT_GDT
    IDENTITY_PAGING PAGE_DIR
    mov ecx, 0x48b                     ; IA32_VMX_PROCBASED_CTLS2
    rdmsr
    PRINT "vmcs shadowing allowed: "
    mov eax, edx
    shr eax, 14
    and eax, 1
    call hex32
    call newline
    VMX_ON VMXON_PAGE, VMCS_PAGE, SCRATCH

    ; the shadow VMCS: current, filled, not enterable
    mov dword [SHADOW_PAGE], REVISION | 0x80000000
    CLEAR SHADOW_PAGE
    LOAD SHADOW_PAGE
    PRINT_FLAGS "vmptrld shadow: "
    VMW GUEST_RIP, 0x1234
    vmlaunch
    PRINT_FLAGS "vmlaunch shadow: "
    CLEAR SHADOW_PAGE
    LOAD VMCS_PAGE
    call setup_vmcs
    ; bitmaps: every field exits but GUEST_RIP (read and write) and EXIT_REASON (read)
    mov edi, READ_BITMAP
    mov eax, 0xffffffff
    mov ecx, 2048
    rep stosd
    CLEAR_BIT READ_BITMAP, GUEST_RIP
    CLEAR_BIT WRITE_BITMAP, GUEST_RIP
    CLEAR_BIT READ_BITMAP, EXIT_REASON

    call run_l2                        ; VMREAD GUEST_RFLAGS exits
    PRINT "l2 read rip "
    mov eax, [l2_ebx]
    call hex32
    call newline
    call run_l2                        ; VMWRITE EXIT_REASON exits
    PRINT "l2 read exit reason "
    mov eax, [l2_esi]
    call hex32
    call newline
    call run_l2                        ; VMCALL

    ; L2's VMWRITE is in the shadow VMCS
    CLEAR SHADOW_PAGE
    LOAD SHADOW_PAGE
    PRINT_FIELD "shadow rip ", GUEST_RIP
    call newline
    CLEAR SHADOW_PAGE

    ; an ordinary VMCS as link pointer: the entry fails, guest-state check, qualification 4
    mov dword [SHADOW_PAGE], REVISION
    LOAD VMCS_PAGE
    call run_l2
    ; a VMWRITE bitmap not 4K-aligned: VMfailValid(7)
    mov dword [SHADOW_PAGE], REVISION | 0x80000000
    VMW VMWRITE_BITMAP, WRITE_BITMAP + 8
    mov [l1_esp], esp
    vmresume
    PRINT_FLAGS "unaligned bitmap: "
    PRINT_FIELD "error ", INSN_ERROR
    call newline
    vmxoff
    ret

; run_l2: VMLAUNCH the first time, VMRESUME after; prints each exit's reason, the failed entry's
; qualification too, and moves L2 past the instruction that exited
run_l2:
    ENTER_L2
vm_exit:
    mov esp, [l1_esp]
    mov [l2_ebx], ebx
    mov [l2_esi], esi
    PRINT_FIELD "exit ", EXIT_REASON
    mov eax, EXIT_REASON
    vmread eax, eax
    test eax, eax
    jns .skip
    PRINT_FIELD " qualification ", EXIT_QUAL
    call newline
    ret
.skip:
    call newline
    mov eax, GUEST_RIP
    vmread ebx, eax
    mov ecx, EXIT_INSN_LEN
    vmread ecx, ecx
    add ebx, ecx
    vmwrite eax, ebx
    ret

l1_esp:   dd 0
l2_ebx:   dd 0
l2_esi:   dd 0
launched: db 0

; ---- L2: a guest hypervisor's VMREAD/VMWRITE under shadowing ----
l2_entry:
    mov eax, GUEST_RIP
    vmread ebx, eax                    ; the shadow's 1234h, no exit
    mov ecx, 0x5678
    vmwrite eax, ecx                   ; into the shadow, no exit
    mov eax, GUEST_RFLAGS
    vmread edx, eax                    ; exits: reason 23
    mov eax, EXIT_REASON
    vmread esi, eax                    ; the shadow's exit reason (0), no exit
    vmwrite eax, ecx                   ; exits: reason 25 (its VMWRITE bit is set)
    vmcall                             ; exits: reason 18
    jmp l2_entry

setup_vmcs:
    VMW PIN_CONTROLS, 0x16
    VMW CPU_CONTROLS, 0x04006172 | (1 << 31)
    VMW SECONDARY_CONTROLS, SEC_SHADOW
    VMW VMREAD_BITMAP, READ_BITMAP
    VMW VMWRITE_BITMAP, WRITE_BITMAP
    VMW EXIT_CONTROLS, 0x00036dfb
    VMW ENTRY_CONTROLS, 0x000011fb
    HOST_AS_GUEST gdt, 0
    VMW HOST_RIP, vm_exit
    FLAT_GUEST_SEGMENTS gdt, gdt_end
    GUEST_START l2_entry, L2_STACK
    VMW VMCS_LINK_POINTER, SHADOW_PAGE
    VMW VMCS_LINK_POINTER + 1, 0
    ret

HYPERVISOR_GDT
