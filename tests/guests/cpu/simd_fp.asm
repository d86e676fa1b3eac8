; SSE and SSE2 floating point: packed and scalar arithmetic, MIN/MAX, SQRT, the CMP predicates,
; COMIS/UCOMIS flags, conversions under MXCSR rounding, shuffles and unpacks, and the NaN rules
; (first NaN operand quieted; invalid operations give the negative "QNaN indefinite").
%include "multiboot.inc"
%include "../cpu/cpu_lib.inc"

; F "name", insn: xmm0 = PA, xmm1 = PB (singles), run insn, print xmm0
%macro F 2+
    movaps xmm0, [pa]
    movaps xmm1, [pb]
    %2
    PRINT %1, " "
    call dumpx
%endmacro
; D "name", insn: the same with doubles DA, DB
%macro D 2+
    movapd xmm0, [da]
    movapd xmm1, [db_]
    %2
    PRINT %1, " "
    call dumpx
%endmacro
; C "name", insn: print EFLAGS & 0x8d5 after a compare
%macro C 2+
    movaps xmm0, [pa]
    movaps xmm1, [pb]
    movapd xmm2, [da]
    movapd xmm3, [db_]
    mov eax, 0x8d5
    push eax
    popf
    %2
    pushf
    pop eax
    and eax, 0x8d5
    PRINT %1, " "
    call hex32
    call newline
%endmacro
; I "name", insn: result in eax
%macro I 2+
    movaps xmm0, [pa]
    movapd xmm2, [da]
    %2
    PRINT %1, " "
    call hex32
    call newline
%endmacro

main:
    call cpu_setup
    mov eax, cr4
    or eax, 0x600
    mov cr4, eax
    mov eax, cr0
    and eax, ~0x0c
    or eax, 0x22
    mov cr0, eax
    F "addps", addps xmm0, xmm1
    F "subps", subps xmm0, xmm1
    F "mulps", mulps xmm0, xmm1
    F "divps", divps xmm0, xmm1
    F "minps", minps xmm0, xmm1
    F "maxps", maxps xmm0, xmm1
    F "sqrtps", sqrtps xmm0, xmm1
    F "addss", addss xmm0, xmm1
    F "divss m", divss xmm0, [pb + 4]
    F "sqrtss", sqrtss xmm0, xmm1
    F "andps", andps xmm0, xmm1
    F "xorps", xorps xmm0, xmm1
    F "shufps", shufps xmm0, xmm1, 0x72
    F "unpcklps", unpcklps xmm0, xmm1
    F "unpckhps", unpckhps xmm0, xmm1
    F "cmpeqps", cmpeqps xmm0, xmm1
    F "cmpltps", cmpltps xmm0, xmm1
    F "cmpleps", cmpleps xmm0, xmm1
    F "cmpunordps", cmpunordps xmm0, xmm1
    F "cmpneqps", cmpneqps xmm0, xmm1
    F "cmpnltps", cmpnltps xmm0, xmm1
    F "cmpnleps", cmpnleps xmm0, xmm1
    F "cmpordps", cmpordps xmm0, xmm1
    F "cmpltss", cmpltss xmm0, xmm1
    F "cvtps2pd", cvtps2pd xmm0, xmm1
    F "cvtdq2ps", cvtdq2ps xmm0, [ints]
    F "cvtps2dq", cvtps2dq xmm0, xmm1
    F "cvttps2dq", cvttps2dq xmm0, xmm1
    F "cvtss2sd", cvtss2sd xmm0, xmm1
    F "cvtsi2ss", cvtsi2ss xmm0, [ints + 4]
    F "movss", movss xmm0, [pb + 8]
    F "movups", movups xmm0, [pb + 4]
    D "addpd", addpd xmm0, xmm1
    D "subpd", subpd xmm0, xmm1
    D "mulpd", mulpd xmm0, xmm1
    D "divpd", divpd xmm0, xmm1
    D "minpd", minpd xmm0, xmm1
    D "maxpd", maxpd xmm0, xmm1
    D "sqrtpd", sqrtpd xmm0, xmm1
    D "addsd", addsd xmm0, xmm1
    D "mulsd m", mulsd xmm0, [db_ + 8]
    D "sqrtsd", sqrtsd xmm0, xmm0
    D "andnpd", andnpd xmm0, xmm1
    D "shufpd", shufpd xmm0, xmm1, 1
    D "unpcklpd", unpcklpd xmm0, xmm1
    D "unpckhpd", unpckhpd xmm0, xmm1
    D "cmplepd", cmplepd xmm0, xmm1
    D "cmpneqsd", cmpneqsd xmm0, xmm1
    D "cvtpd2ps", cvtpd2ps xmm0, xmm1
    D "cvtsd2ss", cvtsd2ss xmm0, xmm1
    D "cvtpd2dq", cvtpd2dq xmm0, xmm1
    D "cvttpd2dq", cvttpd2dq xmm0, xmm1
    D "cvtdq2pd", cvtdq2pd xmm0, [ints]
    D "cvtsi2sd", cvtsi2sd xmm0, [ints + 8]
    D "movsd", movsd xmm0, xmm1
    D "movapd", movapd xmm0, xmm1
    C "comiss gt", comiss xmm0, xmm1
    C "comiss lt", comiss xmm1, xmm0
    C "comiss eq", comiss xmm0, xmm0
    C "ucomiss nan", ucomiss xmm0, [qnan]
    C "comisd", comisd xmm2, xmm3
    C "ucomisd eq", ucomisd xmm3, xmm3
    I "cvtss2si", cvtss2si eax, xmm0
    I "cvttss2si", cvttss2si eax, [pb + 12]
    I "cvtsd2si", cvtsd2si eax, xmm2
    I "cvttsd2si", cvttsd2si eax, [db_]
    I "cvtsd2si big", cvtsd2si eax, [big]
    ; rounding control: round down, then up, then chop
    mov dword [mx], 0x3f80
    ldmxcsr [mx]
    I "cvtss2si rd", cvtss2si eax, [half + 4]
    mov dword [mx], 0x5f80
    ldmxcsr [mx]
    I "cvtss2si ru", cvtss2si eax, [half + 4]
    mov dword [mx], 0x7f80
    ldmxcsr [mx]
    I "cvtsd2si rz", cvtsd2si eax, [dhalf]
    mov dword [mx], 0x1f80
    ldmxcsr [mx]
    I "cvtss2si rn", cvtss2si eax, [half]
    I "cvtss2si rn2", cvtss2si eax, [half + 4]
    ; conversions between MMX and XMM registers
    movq mm2, [ints + 8]
    F "cvtpi2ps", cvtpi2ps xmm0, mm2
    D "cvtpi2pd", cvtpi2pd xmm0, [ints]
    movaps xmm4, [pa]
    cvtps2pi mm3, xmm4
    cvttpd2pi mm4, [da]
    movq [out], mm3
    movq [out + 8], mm4
    movdqu xmm0, [out]
    PRINT "cvtps2pi cvttpd2pi "
    call dumpx
    emms
    ret

dumpx:
    movdqu [out], xmm0
    mov esi, out
    mov eax, [esi + 12]
    call hex32
    mov al, ' '
    call putc
    mov eax, [esi + 8]
    call hex32
    mov al, ' '
    call putc
    mov eax, [esi + 4]
    call hex32
    mov al, ' '
    call putc
    mov eax, [esi]
    call hex32
    call newline
    ret

align 16
pa: dd 1.5, -2.25, 0x7fc12345, 1e30
pb: dd 0.5, 0.0, -3.75, -1e30
da: dq 2.5, -1.0e300
db_: dq -0.75, 0x7ff4000000000001
ints: dd 7, -9, 123456789, -2147483647
qnan: dd 0xffc00000, 0, 0, 0
big: dq 3.0e9
half: dd 2.5, -2.5
dhalf: dq -7.75
mx: dd 0
out: times 16 db 0
