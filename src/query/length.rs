//! `length()` in `converge query`: DataFusion's counts the characters of text and
//! cannot take bytes; this one counts a binary value's bytes (as PostgreSQL's `length`
//! of a `bytea` does) and a text's characters.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, Int32Array, Int64Array};
use arrow::datatypes::DataType;
use datafusion::common::Result;
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility};

/// `length(x)`: bytes of a binary value, characters of anything else (as text).
#[derive(Debug, PartialEq, Eq, Hash)]
struct Length {
    signature: Signature,
}

/// The UDF, to register over DataFusion's `length`.
pub fn length() -> ScalarUDF {
    ScalarUDF::new_from_impl(Length { signature: Signature::any(1, Volatility::Immutable) })
}

impl ScalarUDFImpl for Length {
    fn name(&self) -> &str {
        "length"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        Ok(match args[0] {
            DataType::LargeBinary | DataType::LargeUtf8 => DataType::Int64,
            _ => DataType::Int32,
        })
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let a = args.args[0].clone().into_array(args.number_rows)?;
        let out: ArrayRef = match a.data_type() {
            DataType::Binary | DataType::LargeBinary | DataType::BinaryView | DataType::FixedSizeBinary(_) => {
                arrow::compute::kernels::length::length(&a)?
            }
            DataType::LargeUtf8 => {
                let s = a.as_any().downcast_ref::<arrow::array::LargeStringArray>().expect("LargeUtf8");
                Arc::new(s.iter().map(|v| v.map(|v| v.chars().count() as i64)).collect::<Int64Array>())
            }
            _ => {
                let s = arrow::compute::cast(&a, &DataType::Utf8)?;
                let s = s.as_any().downcast_ref::<arrow::array::StringArray>().expect("Utf8");
                Arc::new(s.iter().map(|v| v.map(|v| v.chars().count() as i32)).collect::<Int32Array>())
            }
        };
        Ok(ColumnarValue::Array(out))
    }
}
