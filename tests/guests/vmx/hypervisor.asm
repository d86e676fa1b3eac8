; golden: none
; A small VMX hypervisor (L1) and its guest (L2). QEMU's TCG has no VMX, so the expected output
; tests/golden/vmx/hypervisor.txt is derived from the Intel SDM (Vol. 3C), not recorded from QEMU:
; the comment at each step says which result the SDM requires (flags, error number, exit reason,
; qualification per Table 28-5 for I/O). Instruction length is undefined for exception exits
; (reason 0); this implementation reports 0. Run by tests/cpu/vmx/guests_test.ts on the minimal
; machine with a CPU model that reports VMX (qemu32,+vmx).
;
; L1 turns on paging (CR0.PG/NE are VMX-fixed), sets IA32_FEATURE_CONTROL and CR4.VMXE, runs the
; VMX-instruction failure paths, builds a VMCS and runs L2, which does CPUID, OUT, IN, HLT, a
; write to an unmapped page (#PF through the exception bitmap; L1 maps the page in L2's page
; tables, and then the page's guest-physical address is missing from EPT: an EPT violation, after
; which L1 maps it in EPT and resumes) and VMCALL, then spins until the VMX-preemption timer expires. Every exit prints its reason,
; qualification and instruction length.
%include "multiboot.inc"

%define PAGE_DIR    0x00200000
%define VMXON_PAGE  0x00201000
%define VMCS_PAGE   0x00202000
%define SCRATCH     0x00203000
%define EPT_PML4    0x00204000
%define EPT_PDPT    0x00205000
%define EPT_PD      0x00206000
%define EPT_2M      0xb7               ; RWX, WB (6 << 3), 2 MiB page
%define L2_STACK    0x00280000
%define HOST_STACK  0x00290000
%define HOLE        0x10000000         ; unmapped until L2 faults on it
%include "vmx.inc"
%include "vmx_setup.inc"

; FLAGS "label": prints the label and CF/ZF after a VMX instruction
%macro FLAGS 1
    pushfd
    PRINT %1
    pop eax
    call print_flags
%endmacro

main:
    FLAT_GDT
    ; identity-map the first 128 MiB with 4 MiB pages; the HOLE page stays not present
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
    mov eax, PAGE_DIR
    mov cr3, eax
    mov eax, cr4
    or eax, 0x10                       ; PSE
    mov cr4, eax
    mov eax, cr0
    or eax, 0x80000020                 ; PG, NE
    mov cr0, eax

    mov eax, 1
    cpuid
    PRINT "cpuid.1:ecx.vmx="
    mov eax, ecx
    shr eax, 5
    and eax, 1
    call hex32
    call newline
    mov ecx, 0x480
    rdmsr
    PRINT "vmx_basic="
    xchg eax, edx
    call hex32
    xchg eax, edx
    call hex32
    call newline

    mov ecx, 0x3a                      ; IA32_FEATURE_CONTROL: lock | VMXON outside SMX
    mov eax, 5
    xor edx, edx
    wrmsr
    mov eax, cr4
    or eax, 0x2000                     ; CR4.VMXE
    mov cr4, eax

    mov dword [VMXON_PAGE], REVISION + 1
    mov dword [SCRATCH], VMXON_PAGE
    mov dword [SCRATCH + 4], 0
    vmxon [SCRATCH]
    FLAGS "vmxon bad revision: "       ; VMfailInvalid: CF=1
    mov dword [VMXON_PAGE], REVISION
    vmxon [SCRATCH]
    FLAGS "vmxon: "                    ; VMsucceed
    vmxon [SCRATCH]
    FLAGS "vmxon again: "              ; VMfail(15) without a current VMCS: VMfailInvalid

    mov eax, GUEST_RIP
    vmread ebx, eax
    FLAGS "vmread without vmcs: "      ; VMfailInvalid
    mov dword [VMCS_PAGE], REVISION
    mov dword [SCRATCH], VMCS_PAGE
    vmclear [SCRATCH]
    FLAGS "vmclear: "
    vmptrld [SCRATCH]
    FLAGS "vmptrld: "
    vmptrst [SCRATCH + 8]
    PRINT "vmptrst="
    mov eax, [SCRATCH + 8]
    call hex32
    call newline
    mov eax, 0x4830                    ; no such field
    vmread ebx, eax
    FLAGS "vmread bad field: "         ; VMfailValid(12)
    call print_error
    VMW EXIT_REASON, 1
    FLAGS "vmwrite read-only: "        ; VMfailValid(13)
    call print_error
    mov dword [SCRATCH], VMXON_PAGE
    vmptrld [SCRATCH]
    FLAGS "vmptrld vmxon page: "       ; VMfailValid(10)
    call print_error

    call setup_vmcs
    VMW CR3_TARGET_COUNT, 1            ; IA32_VMX_MISC offers no CR3-target values
    vmlaunch
    FLAGS "vmlaunch bad control: "     ; VMfailValid(7)
    call print_error
    VMW CR3_TARGET_COUNT, 0
    VMW HOST_CS_SELECTOR, 0
    vmlaunch
    FLAGS "vmlaunch bad host cs: "     ; VMfailValid(8)
    call print_error
    VMW HOST_CS_SELECTOR, 0x08
    VMW GUEST_RFLAGS, 0                ; bit 1 must be 1
    VMW HOST_RIP, entry_failed
    vmlaunch
    PRINT "vmlaunch fell through", 10
    ret
entry_failed:
    PRINT "vmlaunch bad guest rflags: exit "
    mov eax, EXIT_REASON
    vmread eax, eax
    call hex32
    call newline
    VMW GUEST_RFLAGS, 2
    VMW HOST_RIP, vm_exit
    vmlaunch
    FLAGS "vmlaunch failed: "
    call print_error
    ret

; ---- the exit handler (HOST_RIP) ----
vm_exit:
    PRINT "exit "
    mov eax, EXIT_REASON
    vmread ebx, eax
    mov eax, ebx
    call hex32
    PRINT " qual "
    mov eax, EXIT_QUAL
    vmread eax, eax
    call hex32
    PRINT " len "
    mov eax, EXIT_INSN_LEN
    vmread ecx, eax
    mov eax, ecx
    call hex32
    call newline
    cmp ebx, 48                        ; EPT violation: print the guest-physical address
    jne .not_ept
    PRINT "  gpa "
    mov eax, GUEST_PHYS_ADDR
    vmread eax, eax
    call hex32
    call newline
    ; map GPA 8-10 MiB in EPT and run the instruction again
    mov dword [EPT_PD + 4 * 8], 0x800000 | EPT_2M
    jmp .resume
.not_ept:
    cmp ebx, 18                        ; VMCALL: L2's instruction tests are done
    je .vmcall
    cmp ebx, 52                        ; the preemption timer: L2 is done
    je .finished
    cmp ebx, 0                         ; #PF: map the page and run the instruction again
    jne .skip
    mov dword [PAGE_DIR + (HOLE >> 22) * 4], 0x00800083
    jmp .resume
.skip:
    mov eax, GUEST_RIP                 ; past the exiting instruction
    vmread ebx, eax
    add ebx, ecx
    vmwrite eax, ebx
.resume:
    vmresume
    FLAGS "vmresume failed: "
    call print_error
    ret
.vmcall:
    mov eax, [HOLE + 0x10]
    PRINT "l1 reads the page: "
    call hex32
    call newline
    mov eax, GUEST_RIP
    vmread eax, eax
    PRINT "l2 rip at vmcall: "
    sub eax, l2_entry
    call hex32
    call newline
    ; L2 now spins; the VMX-preemption timer (pin-based bit 6) ends it with exit 52, and the
    ; "save VMX-preemption timer value" exit control (bit 22) stores the value it reached, 0.
    VMW PIN_CONTROLS, 0x16 | (1 << 6)
    VMW EXIT_CONTROLS, 0x00036dfb | (1 << 22)
    VMW TIMER_VALUE, 2000
    VMW GUEST_RIP, l2_spin
    vmresume
    FLAGS "vmresume failed: "
    call print_error
    ret
.finished:
    PRINT "timer value saved: "
    mov eax, TIMER_VALUE
    vmread eax, eax
    call hex32
    call newline
    vmxoff
    FLAGS "vmxoff: "
    ret                                ; HOST_RSP holds main's return address

; ---- L2 ----
l2_entry:
    xor eax, eax
    cpuid                              ; exit 10, always
    rdtsc                              ; exit 16: L1's RDTSC exiting (nested: not one of L0's own)
    out 0x80, al                       ; exit 30: port 0x80, byte, out, immediate
    mov dx, 0x1234
    in ax, dx                          ; exit 30: port 0x1234, word, in, DX
    hlt                                ; exit 12
    jmp 0x20:0                         ; exit 9: task switch, JMP (source 2) to TSS selector 0x20
    ; exit 0: #PF, write to a not-present page; then exit 48: EPT violation, qualification
    ; write (bit 1), not mapped (bits 5:3 = 0), linear address valid and translated (bits 7, 8)
    mov dword [HOLE + 0x10], 0x600d
    vmcall                             ; exit 18
    jmp l2_entry
l2_spin:
    jmp l2_spin

; ---- helpers ----
setup_vmcs:
    VMW PIN_CONTROLS, 0x16
    ; HLT exiting, RDTSC exiting, unconditional I/O exiting, secondary controls: EPT
    VMW CPU_CONTROLS, 0x04006172 | (1 << 7) | (1 << 12) | (1 << 24) | (1 << 31)
    VMW SECONDARY_CONTROLS, 1 << 1
    ; EPT: identity for GPA 0-128 MiB in 2 MiB pages, except 8-10 MiB (the page HOLE maps to)
    mov edi, EPT_PML4
    xor eax, eax
    mov ecx, 3 * 1024
    rep stosd
    mov dword [EPT_PML4], EPT_PDPT | 7
    mov dword [EPT_PDPT], EPT_PD | 7
    mov edi, EPT_PD
    mov eax, EPT_2M
    mov ecx, 64
.ept:
    mov [edi], eax
    add edi, 8
    add eax, 0x200000
    loop .ept
    mov dword [EPT_PD + 4 * 8], 0
    VMW EPT_POINTER, EPT_PML4 | 6 | (3 << 3) | (1 << 6)   ; WB, 4-level walk, A/D flags
    VMW EXIT_CONTROLS, 0x00036dfb
    VMW ENTRY_CONTROLS, 0x000011fb
    VMW EXCEPTION_BITMAP, 1 << 14
    HOST_AS_GUEST gdt, 0
    mov ecx, esp                       ; main's frame: the exit handler's RET leaves main
    add ecx, 4
    VMW HOST_RSP, ecx
    VMW HOST_RIP, vm_exit
    FLAT_GUEST_SEGMENTS gdt, gdt_end
    VMW GUEST_RSP, L2_STACK
    VMW GUEST_RIP, l2_entry
    VMW GUEST_RFLAGS, 2
    VMW VMCS_LINK_POINTER, 0xffffffff
    VMW VMCS_LINK_POINTER + 1, 0xffffffff
    ret

; print_flags: prints "CF=x ZF=x" for the flags in EAX
print_flags:
    push eax
    PRINT "CF="
    and eax, 1
    call hex_digit
    pop eax
    PRINT " ZF="
    shr eax, 6
    and eax, 1
    call hex_digit
    call newline
    ret

hex_digit:
    add al, '0'
    call putc
    ret

; print_error: prints the VM-instruction error field
print_error:
    PRINT "  error "
    mov eax, INSN_ERROR
    vmread eax, eax
    call hex32
    call newline
    ret

align 8
gdt:
    dq 0
    dq 0x00cf9a000000ffff
    dq 0x00cf92000000ffff
    dq 0x00008b000000ffff              ; a TSS descriptor for TR's selector
    dq 0x000089000000ffff              ; an available TSS for L2's JMP to a task
gdt_end:
gdt_desc:
    dw gdt_end - gdt - 1
    dd gdt
