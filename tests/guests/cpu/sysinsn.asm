; System and less common instructions: descriptor queries (LAR LSL VERR VERW ARPL), table and
; register stores (SGDT SIDT SLDT STR SMSW), MSRs (SYSENTER, PAT, APIC base, MTRRs, TSC write),
; CMPXCHG/CMPXCHG8B/XADD/BSWAP, BSF/BSR/BT*, ENTER/LEAVE, REPE/REPNE string ops, LOOPE/LOOPNE,
; XLAT, CBW/CWD, SETcc/CMOVcc. Each result is printed as hex.
%include "multiboot.inc"
%include "../cpu/cpu_lib.inc"

%macro SHOW 1
    push esi
    mov esi, %%m
    call show
    pop esi
    jmp %%e
%%m: db %1, ": ", 0
%%e:
%endmacro

main:
    call cpu_setup
    PRINT "sysinsn", 10
    ; LAR / LSL on code, data, TSS, null, beyond the limit
    mov ecx, SEL_CODE32
    call larlsl
    mov ecx, SEL_DATA16
    call larlsl
    mov ecx, SEL_TSS
    call larlsl
    mov ecx, 0
    call larlsl
    mov ecx, 0x1000
    call larlsl
    ; VERR / VERW
    mov cx, SEL_CODE32
    verr cx
    setz al
    verw cx
    setz ah
    movzx eax, ax
    SHOW "verr/verw code"
    mov cx, SEL_DATA32
    verr cx
    setz al
    verw cx
    setz ah
    movzx eax, ax
    SHOW "verr/verw data"
    ; ARPL
    mov ax, 0x0010
    mov bx, 0x0003
    arpl ax, bx
    setz bl
    movzx ebx, bl
    shl ebx, 16
    or eax, ebx
    SHOW "arpl"
    ; stores
    sgdt [scratch]
    movzx eax, word [scratch]
    SHOW "sgdt limit"
    sidt [scratch]
    movzx eax, word [scratch]
    SHOW "sidt limit"
    sldt ax
    movzx eax, ax
    SHOW "sldt"
    str eax
    SHOW "str"
    smsw eax
    SHOW "smsw"
    ; MSRs
    mov ecx, 0x1b
    rdmsr
    and eax, 0xfffff000
    SHOW "apic base"
    mov ecx, 0x277
    rdmsr
    SHOW "pat lo"
    mov eax, edx
    SHOW "pat hi"
    mov ecx, 0x174
    mov eax, 0x1234
    xor edx, edx
    wrmsr
    rdmsr
    SHOW "sysenter_cs"
    mov ecx, 0x200
    mov eax, 0x00000006
    mov edx, 0
    wrmsr
    rdmsr
    SHOW "mtrr physbase0"
    mov ecx, 0x10
    xor eax, eax
    mov edx, 1
    wrmsr
    rdmsr
    mov eax, edx
    SHOW "tsc hi after write"
    ; CMPXCHG: equal and not equal
    mov dword [scratch], 5
    mov eax, 5
    mov ebx, 9
    cmpxchg [scratch], ebx
    pushfd
    mov eax, [scratch]
    SHOW "cmpxchg equal"
    popfd
    mov eax, 7
    cmpxchg [scratch], ebx
    SHOW "cmpxchg unequal eax"
    ; CMPXCHG8B
    mov dword [scratch], 1
    mov dword [scratch + 4], 2
    mov eax, 1
    mov edx, 2
    mov ebx, 0x33
    mov ecx, 0x44
    cmpxchg8b [scratch]
    setz al
    movzx eax, al
    SHOW "cmpxchg8b zf"
    mov eax, [scratch + 4]
    SHOW "cmpxchg8b hi"
    xor eax, eax
    xor edx, edx
    cmpxchg8b [scratch]
    SHOW "cmpxchg8b loaded eax"
    ; XADD, BSWAP
    mov eax, 10
    mov dword [scratch], 32
    xadd [scratch], eax
    add eax, [scratch]
    SHOW "xadd"
    mov eax, 0x11223344
    bswap eax
    SHOW "bswap"
    ; BSF/BSR, BT family
    mov ebx, 0x00f0_0100
    bsf eax, ebx
    SHOW "bsf"
    bsr eax, ebx
    SHOW "bsr"
    mov eax, 0x10
    bts eax, 2
    btr eax, 4
    btc eax, 31
    setc bl
    movzx ebx, bl
    xor eax, ebx
    SHOW "bt family"
    mov dword [scratch], 0
    mov dword [scratch + 4], 0
    mov ecx, 37
    bts [scratch], ecx
    mov eax, [scratch + 4]
    SHOW "bts memory offset"
    ; ENTER / LEAVE
    mov ebp, 0x12345678
    mov ebx, esp
    enter 16, 0
    mov eax, ebx
    sub eax, esp
    leave
    SHOW "enter frame"
    mov eax, ebp
    SHOW "leave ebp"
    ; string ops
    mov esi, str1
    mov edi, str2
    mov ecx, 8
    repe cmpsb
    mov eax, ecx
    SHOW "repe cmpsb ecx"
    mov edi, str1
    mov al, 'z'
    mov ecx, 16
    repne scasb
    mov eax, ecx
    SHOW "repne scasb ecx"
    ; LOOPE / LOOPNE
    mov ecx, 5
    xor eax, eax
.le:
    inc eax
    cmp eax, 3
    loopne .le
    shl ecx, 8
    or eax, ecx
    SHOW "loopne"
    ; XLAT, CBW, CWD
    mov ebx, table
    mov eax, 3
    xlatb
    SHOW "xlat"
    mov eax, 0x1234ff80
    cbw
    SHOW "cbw"
    mov eax, 0x8000
    cwd
    shl edx, 16
    or eax, edx
    SHOW "cwd"
    ; SETcc / CMOVcc
    mov eax, -5
    cmp eax, 3
    setl bl
    setb bh
    movzx eax, bx
    SHOW "setl/setb"
    mov eax, 1
    mov ebx, 2
    cmp eax, ebx
    cmovg eax, ebx
    cmovl ecx, ebx
    SHOW "cmovg"
    mov eax, ecx
    SHOW "cmovl"
    ret

; larlsl: LAR and LSL of selector ECX, with ZF
larlsl:
    xor eax, eax
    lar eax, ecx
    setz bl
    push eax
    PRINT "lar "
    mov eax, ecx
    call hex32
    PRINT " -> "
    pop eax
    call hex32
    movzx eax, bl
    call space_hex
    xor eax, eax
    lsl eax, ecx
    setz bl
    call space_hex
    movzx eax, bl
    call space_hex
    call newline
    ret

space_hex:
    push eax
    mov al, ' '
    call putc
    pop eax
    call hex32
    ret

str1: db "abcdefgh"
str2: db "abcdXfgh"
table: db 10, 20, 30, 40
align 8
scratch: dq 0, 0
