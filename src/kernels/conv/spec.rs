//! The shapes of a conv2d and a conv_transpose2d (PyTorch semantics), the fused activation and
//! the kernel variant, with the checks every entry point runs before building dispatches.

use crate::{shape_err, Buf, DType, Error, Gpu, Result};

/// Most reduction terms one GEMM invocation sums (16,384 loop iterations of 4, well inside
/// lavapipe's silent cap of 65,535 loop iterations per invocation).
pub const K_MAX: usize = 65536;

/// Kernel strategy; `None` in a spec means the adapter's default (`Conv2dSpec::variant_on`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Variant {
    /// Each invocation a register tile of up to 64 rows x 16 columns, no workgroup memory
    /// (CPU adapters such as lavapipe).
    RegisterBlocked,
    /// 64x64 workgroup tiles staged through workgroup memory (GPUs).
    Tiled,
}

/// Activation applied after the bias in a forward epilogue.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Act {
    None,
    /// max(0, v).
    Relu,
    /// v if v >= 0 else alpha * v.
    LeakyRelu(f32),
}

impl Act {
    pub(super) fn code(self) -> (u32, f32) {
        match self {
            Act::None => (0, 0.0),
            Act::Relu => (1, 0.0),
            Act::LeakyRelu(alpha) => (2, alpha),
        }
    }
}

/// conv2d: x [n, cin, h, w] * weight [cout, cin, kh, kw] (+ bias [cout]) -> y [n, cout, oh, ow],
/// oh = (h + 2 pad - kh) / stride + 1, zero padding on every side.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Conv2dSpec {
    pub n: usize,
    pub cin: usize,
    pub h: usize,
    pub w: usize,
    pub cout: usize,
    pub kh: usize,
    pub kw: usize,
    pub stride: usize,
    pub pad: usize,
    pub variant: Option<Variant>,
}

impl Conv2dSpec {
    /// Stride 1, no padding, the adapter's default variant.
    pub fn new(
        n: usize,
        cin: usize,
        h: usize,
        w: usize,
        cout: usize,
        kh: usize,
        kw: usize,
    ) -> Self {
        Conv2dSpec {
            n,
            cin,
            h,
            w,
            cout,
            kh,
            kw,
            stride: 1,
            pad: 0,
            variant: None,
        }
    }
    pub fn stride(mut self, s: usize) -> Self {
        self.stride = s;
        self
    }
    pub fn pad(mut self, p: usize) -> Self {
        self.pad = p;
        self
    }
    pub fn variant(mut self, v: Variant) -> Self {
        self.variant = Some(v);
        self
    }
    /// The variant used on `gpu`: the spec's, else register-blocked on CPU adapters.
    pub fn variant_on(&self, gpu: &Gpu) -> Variant {
        self.variant.unwrap_or(if gpu.is_cpu() {
            Variant::RegisterBlocked
        } else {
            Variant::Tiled
        })
    }
    /// Output height (0 when the kernel does not fit, which `check` refuses).
    pub fn oh(&self) -> usize {
        out_size(self.h, self.pad, self.kh, self.stride)
    }
    pub fn ow(&self) -> usize {
        out_size(self.w, self.pad, self.kw, self.stride)
    }
    pub fn x_len(&self) -> usize {
        self.n * self.cin * self.h * self.w
    }
    pub fn w_len(&self) -> usize {
        self.cout * self.cin * self.kh * self.kw
    }
    pub fn y_len(&self) -> usize {
        self.n * self.cout * self.oh() * self.ow()
    }
    /// 2 N OH OW Cout Cin KH KW (the forward; each backward does as many).
    pub fn flops(&self) -> f64 {
        2.0 * (self.n * self.oh() * self.ow()) as f64 * self.w_len() as f64
    }

    pub fn check(&self) -> Result<()> {
        let dims = [
            self.n,
            self.cin,
            self.h,
            self.w,
            self.cout,
            self.kh,
            self.kw,
            self.stride,
        ];
        if dims.contains(&0) {
            return shape_err!(
                "conv2d {self:?}: batch, channels, height, width, kernel size and stride must \
                 all be at least 1"
            );
        }
        if self.h + 2 * self.pad < self.kh || self.w + 2 * self.pad < self.kw {
            return shape_err!(
                "conv2d: a {}x{} kernel does not fit a {}x{} input with padding {}: the output \
                 would be smaller than 1x1; use a smaller kernel or more padding",
                self.kh,
                self.kw,
                self.h,
                self.w,
                self.pad
            );
        }
        // The shaders index in i32; the adapter's buffer limits keep real tensors far below.
        let big = [self.x_len(), self.w_len(), self.y_len()];
        if big.iter().any(|&l| l > (i32::MAX as usize) / 2) || self.pad > 1 << 20 {
            return Err(Error::Limit(format!(
                "conv2d {self:?}: a tensor exceeds the 2^30 elements the kernels index; split \
                 the batch"
            )));
        }
        Ok(())
    }
}

fn out_size(len: usize, pad: usize, k: usize, stride: usize) -> usize {
    match (len + 2 * pad).checked_sub(k) {
        Some(room) if stride > 0 => room / stride + 1,
        _ => 0,
    }
}

/// conv_transpose2d: x [n, cin, h, w], weight [cin, cout, kh, kw] (+ bias [cout]) ->
/// y [n, cout, oh, ow], oh = (h - 1) stride - 2 pad + kh + output_pad (PyTorch's
/// ConvTranspose2d without dilation or groups; output_pad < stride).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ConvTranspose2dSpec {
    pub n: usize,
    pub cin: usize,
    pub h: usize,
    pub w: usize,
    pub cout: usize,
    pub kh: usize,
    pub kw: usize,
    pub stride: usize,
    pub pad: usize,
    pub output_pad: usize,
    pub variant: Option<Variant>,
}

impl ConvTranspose2dSpec {
    /// Stride 1, no padding, the adapter's default variant.
    pub fn new(
        n: usize,
        cin: usize,
        h: usize,
        w: usize,
        cout: usize,
        kh: usize,
        kw: usize,
    ) -> Self {
        ConvTranspose2dSpec {
            n,
            cin,
            h,
            w,
            cout,
            kh,
            kw,
            stride: 1,
            pad: 0,
            output_pad: 0,
            variant: None,
        }
    }
    pub fn stride(mut self, s: usize) -> Self {
        self.stride = s;
        self
    }
    pub fn pad(mut self, p: usize) -> Self {
        self.pad = p;
        self
    }
    pub fn output_pad(mut self, p: usize) -> Self {
        self.output_pad = p;
        self
    }
    pub fn variant(mut self, v: Variant) -> Self {
        self.variant = Some(v);
        self
    }
    fn size(&self, len: usize, k: usize) -> usize {
        let full = (len.max(1) - 1) * self.stride + k + self.output_pad;
        full.saturating_sub(2 * self.pad)
    }
    /// Output height (0 when padding eats everything, which `check` refuses).
    pub fn oh(&self) -> usize {
        self.size(self.h, self.kh)
    }
    pub fn ow(&self) -> usize {
        self.size(self.w, self.kw)
    }
    pub fn x_len(&self) -> usize {
        self.n * self.cin * self.h * self.w
    }
    pub fn w_len(&self) -> usize {
        self.cin * self.cout * self.kh * self.kw
    }
    pub fn y_len(&self) -> usize {
        self.n * self.cout * self.oh() * self.ow()
    }
    /// 2 N H W Cin Cout KH KW: every input pixel meets every tap once.
    pub fn flops(&self) -> f64 {
        2.0 * (self.n * self.h * self.w) as f64 * self.w_len() as f64
    }

    /// The conv2d whose input gradient this is: its input is our output, its output our
    /// input, and its weight [cout_c = cin, cin_c = cout, kh, kw] is our weight as stored.
    pub fn as_conv(&self) -> Conv2dSpec {
        Conv2dSpec {
            n: self.n,
            cin: self.cout,
            h: self.oh(),
            w: self.ow(),
            cout: self.cin,
            kh: self.kh,
            kw: self.kw,
            stride: self.stride,
            pad: self.pad,
            variant: self.variant,
        }
    }

    pub fn check(&self) -> Result<()> {
        let dims = [
            self.n,
            self.cin,
            self.h,
            self.w,
            self.cout,
            self.kh,
            self.kw,
            self.stride,
        ];
        if dims.contains(&0) {
            return shape_err!(
                "conv_transpose2d {self:?}: batch, channels, height, width, kernel size and \
                 stride must all be at least 1"
            );
        }
        if self.output_pad >= self.stride {
            return shape_err!(
                "conv_transpose2d: output_pad {} must be smaller than the stride {}",
                self.output_pad,
                self.stride
            );
        }
        if self.oh() == 0 || self.ow() == 0 {
            return shape_err!(
                "conv_transpose2d: padding {} leaves no output for a {}x{} input and {}x{} \
                 kernel (output would be smaller than 1x1); use less padding",
                self.pad,
                self.h,
                self.w,
                self.kh,
                self.kw
            );
        }
        let conv = self.as_conv();
        conv.check()?;
        if conv.oh() != self.h || conv.ow() != self.w {
            return shape_err!(
                "conv_transpose2d {self:?}: output {}x{} does not map back to the {}x{} input",
                self.oh(),
                self.ow(),
                self.h,
                self.w
            );
        }
        Ok(())
    }
}

/// Each buffer has its expected length and holds f32.
pub(super) fn expect(what: &str, bufs: &[(&str, &Buf, usize)]) -> Result<()> {
    for (name, buf, len) in bufs {
        if buf.len() != *len {
            return shape_err!(
                "{what}: {name} should have {len} elements but the buffer has {}",
                buf.len()
            );
        }
        if buf.dtype() != DType::F32 {
            return shape_err!(
                "{what}: {name} holds {:?} but the conv kernels take F32",
                buf.dtype()
            );
        }
    }
    Ok(())
}

/// A caller-owned scratch buffer: at least `need` f32 and in memory of its own (it is written
/// by one pass and read by the next, next to the op's inputs and outputs).
pub(super) fn expect_scratch(
    what: &str,
    scratch: &Buf,
    need: usize,
    others: &[&Buf],
) -> Result<()> {
    if need == 0 {
        return Ok(());
    }
    if scratch.len() < need || scratch.dtype() != DType::F32 {
        return shape_err!(
            "{what}: scratch has {} {:?} elements but needs {need} f32 (see the op's \
             *_scratch_len)",
            scratch.len(),
            scratch.dtype()
        );
    }
    if others.iter().any(|b| b.raw() == scratch.raw()) {
        return shape_err!(
            "{what}: scratch shares memory with an input or output; give it a buffer of its own"
        );
    }
    Ok(())
}
