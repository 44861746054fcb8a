//! The op enums of the elementwise family. Each op's code is the shader's `OP` override
//! constant (shaders/elementwise*.wgsl: OP_RELU, ...), so every op is its own pipeline.

/// Unary ops y = f(x). Arguments ride in the params' `alpha`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Unary {
    Relu,
    /// y = x for x > 0, alpha * x otherwise.
    LeakyRelu(f32),
    Sigmoid,
    Tanh,
    /// log(1 + exp(x)), computed as max(x, 0) + log1p(exp(-|x|)).
    Softplus,
    Exp,
    /// Natural log; defined for x > 0 (x <= 0 gives NaN or -inf, as in PyTorch).
    Log,
    Square,
    /// y = alpha * x.
    Scale(f32),
    /// y = x + c.
    AddScalar(f32),
    /// y = sqrt(x); defined for x >= 0 (the derivative 1 / (2 sqrt(x)) needs x > 0).
    Sqrt,
}

/// The tensor a unary backward reads: whichever gives f'(.) cheaply and stably.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Saved {
    /// The forward's input x.
    Input,
    /// The forward's output y.
    Output,
}

impl Unary {
    pub(crate) fn code(self) -> u32 {
        match self {
            Unary::Relu => 0,
            Unary::LeakyRelu(_) => 1,
            Unary::Sigmoid => 2,
            Unary::Tanh => 3,
            Unary::Softplus => 4,
            Unary::Exp => 5,
            Unary::Log => 6,
            Unary::Square => 7,
            Unary::Scale(_) => 8,
            Unary::AddScalar(_) => 9,
            Unary::Sqrt => 10,
        }
    }

    pub(crate) fn alpha(self) -> f32 {
        match self {
            Unary::LeakyRelu(a) | Unary::Scale(a) | Unary::AddScalar(a) => a,
            _ => 0.0,
        }
    }

    /// What `unary_backward` must be given as `saved`. Sigmoid, tanh and exp have derivatives
    /// in y (y (1 - y), 1 - y^2, y); the rest use x (softplus: sigmoid(x) is stable where
    /// 1 - exp(-y) would cancel). Scale reads neither but takes x for a uniform signature.
    pub fn saved(self) -> Saved {
        match self {
            Unary::Sigmoid | Unary::Tanh | Unary::Exp | Unary::Sqrt => Saved::Output,
            _ => Saved::Input,
        }
    }
}

/// Binary ops y = a op b on equal-length tensors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Binary {
    Add,
    Sub,
    Mul,
}

impl Binary {
    pub(crate) fn code(self) -> u32 {
        match self {
            Binary::Add => 0,
            Binary::Sub => 1,
            Binary::Mul => 2,
        }
    }

    /// Whether the backward reads a and b (only Mul: da = dy * b, db = dy * a).
    pub fn reads_inputs(self) -> bool {
        self == Binary::Mul
    }
}
