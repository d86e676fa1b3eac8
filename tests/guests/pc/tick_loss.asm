; golden: none
; Lost timer ticks (tests/guests/linux/FINDINGS.md, finding 5): the PIT at 250 Hz drives IRQ0 (vector
; 0x20) while the CPU runs 200,000 never-seen instructions with interrupts on, three times. Each
; round prints how many ticks the TSC's elapsed time makes (TSC per tick measured while halted) and
; how many interrupts arrived: "round 1: 161 ticks by the TSC, 161 counted". A round where the
; count trails the TSC by more than one tick plus 1/512 (the calibration's precision) ends with
; "ticks lost" (exit status 3) after the three rounds. QEMU's TCG merges ticks that fall due while the previous one is pending, so its figures
; depend on the host; tests/qemu-system/tick_loss_test.ts holds ours to at most one per round.
%include "multiboot.inc"
%define CODE 0x400000
%define INSNS 200000
%define PIT_DIVISOR 4773        ; 1193182 / 250
%define HPET 0xfed00000         ; QEMU's and ours, both counting at 100 MHz
%define HPET_PER_TICK 400023    ; HPET counts per PIT period (4773 / 1193182 s)
%define CAL_HPET 5000000        ; 50 ms of HPET counts
main:
    ; IDT with vector 0x20 -> tick handler
    mov eax, tick
    mov [idt + 0x20*8], ax
    mov word [idt + 0x20*8 + 2], cs
    mov word [idt + 0x20*8 + 4], 0x8e00
    shr eax, 16
    mov [idt + 0x20*8 + 6], ax
    lidt [idtr]
    ; PIC: master base 0x20, only IRQ0 unmasked
    mov al, 0x11
    out 0x20, al
    mov al, 0x20
    out 0x21, al
    mov al, 4
    out 0x21, al
    mov al, 1
    out 0x21, al
    mov al, 0xfe
    out 0x21, al
    mov al, 0xff
    out 0xa1, al
    ; PIT ch0 mode 2, 1193182/250 = 4773
    mov al, 0x34
    out 0x43, al
    mov ax, PIT_DIVISOR
    out 0x40, al
    mov al, ah
    out 0x40, al
    sti
    ; calibrate: the TSC against the HPET's main counter over 50 ms, each end read right after the
    ; other, so neither when tick interrupts get through nor how late a poll notices anything
    ; matters (the host may deschedule us at any time); the median of three
    mov dword [HPET + 0x10], 1  ; ENABLE_CNF: the main counter runs
    call calibrate
    mov ebx, eax
    call calibrate
    mov ecx, eax
    call calibrate              ; median(eax, ebx, ecx) = max(min(a, b), min(max(a, b), c))
    mov edx, eax
    cmp eax, ebx
    jbe .lo
    mov eax, ebx
    mov ebx, edx                ; eax = min(a, b), ebx = max(a, b)
.lo:
    cmp ebx, ecx
    jbe .mid
    mov ebx, ecx                ; ebx = min(max(a, b), c)
.mid:
    cmp eax, ebx
    jae .med
    mov eax, ebx
.med:
    mov [tsc_per_tick], eax
    call wait_tick
    ; three rounds of cold code
    mov esi, 3
.round:
    call gen_code
    mov eax, [ticks]
    mov [tick0], eax
    rdtsc
    mov [t0], eax
    mov [t0+4], edx
    call CODE
    rdtsc
    sub eax, [t0]
    sbb edx, [t0+4]
    div dword [tsc_per_tick]
    mov ebx, eax                ; expected ticks
    mov eax, [ticks]
    sub eax, [tick0]            ; counted ticks
    inc eax
    mov ecx, eax                ; counted (+1)
    PRINT "round "
    mov eax, 4
    sub eax, esi
    call dec32
    PRINT ": "
    mov eax, ebx
    call dec32
    PRINT " ticks by the TSC, "
    lea eax, [ecx - 1]
    call dec32
    PRINT " counted", 10
    mov eax, ebx                ; allowed: counted + 1 + TSC ticks / 512 (the calibration's precision)
    shr eax, 9
    add eax, ecx
    cmp ebx, eax
    jbe .kept
    mov byte [lost_any], 1
.kept:
    dec esi
    jnz .round
    cli
    cmp byte [lost_any], 0
    jne lost
    ret

; calibrate: EAX = TSC ticks per PIT period, from TSC and HPET counter deltas over CAL_HPET.
calibrate:
    push ebx
    push ecx
    push edx
    push esi
    push edi
    rdtsc
    mov esi, eax
    mov edi, [HPET + 0xf0]
.wait:
    mov ecx, [HPET + 0xf0]
    rdtsc
    sub ecx, edi
    cmp ecx, CAL_HPET
    jb .wait
    sub eax, esi                ; TSC delta
    mov ebx, HPET_PER_TICK
    mul ebx
    div ecx                     ; TSC per tick = TSC delta * HPET ticks per PIT period / HPET delta
    pop edi
    pop esi
    pop edx
    pop ecx
    pop ebx
    ret

; dec32: writes EAX in decimal.
dec32:
    pushad
    mov ebx, 10
    xor ecx, ecx
.div:
    xor edx, edx
    div ebx
    push edx
    inc ecx
    test eax, eax
    jnz .div
.put:
    pop eax
    add al, '0'
    call putc
    loop .put
    popad
    ret

; gen_code: INSNS x "add eax, imm32" with varying immediates (new bytes each round), then ret
gen_code:
    push esi
    mov edi, CODE
    mov ecx, INSNS
    mov edx, [round_salt]
.g:
    mov byte [edi], 0x05
    mov [edi+1], edx
    add edi, 5
    add edx, 0x9e3779b9
    loop .g
    mov byte [edi], 0xc3
    mov [round_salt], edx
    pop esi
    ret

lost:
    PRINT "ticks lost", 10
    mov eax, 1
    jmp exit

wait_tick:
    mov eax, [ticks]
.w: hlt
    cmp eax, [ticks]
    je .w
    ret

tick:
    push eax
    inc dword [ticks]
    mov al, 0x20
    out 0x20, al
    pop eax
    iret

ticks: dd 0
lost_any: db 0
tick0: dd 0
t0: dq 0
tsc_per_tick: dd 0
round_salt: dd 0x12345
idtr: dw 256*8-1
      dd idt
align 8
idt: times 256*8 db 0
