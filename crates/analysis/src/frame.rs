//! Run records and rows <-> polars [`DataFrame`]s, derived from serde.
//!
//! A stored run is a table: one column per field. Instead of writing each
//! column by hand, derive `Serialize`/`Deserialize` on the run's struct and
//! call [`to_frame`] / [`from_frame`]. Two shapes are understood:
//!
//! - **rows**: a slice of structs whose fields are scalars; each field is a
//!   column, each struct a row (`to_frame(&rows)`, `from_frame::<Vec<Row>>`);
//!   more generally a slice of records, written one after another (read
//!   them back one slice of the frame at a time);
//! - **a record**: one struct whose fields are scalars or sequences of
//!   scalars. Every sequence is a column (all of one length n); a scalar is
//!   repeated n times (the tidy layout: run-level values on every row).
//!   Reading it back takes a scalar field from the first row and fails if
//!   the column is not constant. A record needs n ≥ 1 when it has scalar
//!   fields (an empty record would lose them; it is refused when written).
//!
//! Columns appear in field order. Scalars map to polars types as
//! f64/f32 -> `Float64`, unsigned -> `UInt64`, signed -> `Int64`, bool ->
//! `Boolean`, strings and unit enum variants -> `String`; a newtype is
//! stored as its inner value. Fields marked `#[serde(skip)]` are not stored
//! and take their `Default` when read (restore them from the job's spec).
//! Refused, with the field's name: `Option` (whatever its value; use
//! [`option_as_nan`] for an optional count, a `Float64` column with NaN for
//! `None`), tuples and arrays (use a `Vec`), maps, nested structs inside a
//! record's columns, and enum variants with data.
//!
//! We chose this small bridge over `serde_arrow` (the issue's suggestion):
//! polars 0.55 builds on its own `polars-arrow`, so `serde_arrow`'s arrays
//! (arrow-rs or arrow2) would reach polars only through the C data
//! interface and a second Arrow implementation in the build, and
//! `polars-serde` / `df-derive` pin older polars versions.

use anyhow::{anyhow, bail, Context as _, Result};
use polars::prelude::*;
use serde::de::{self, DeserializeOwned, IntoDeserializer};
use serde::ser::{self, Serialize};
use std::fmt;

/// `value` (rows or a record, see the module docs) as a frame.
///
/// # Errors
/// A field of a type with no column type (maps, nested structs inside a
/// row, `None`), sequences of different lengths, or a column whose cells
/// differ in type.
pub fn to_frame<T: Serialize + ?Sized>(value: &T) -> Result<DataFrame> {
    let tree = value.serialize(TreeSer).map_err(|e| anyhow!("{e}"))?;
    let (names, columns): (Vec<&str>, Vec<Vec<Cell>>) = match tree {
        Tree::Seq(rows) => rows_to_columns(rows)?,
        Tree::Struct(fields) => record_to_columns(fields)?,
        other => bail!(
            "a frame is rows or a record (a struct), not {}",
            other.kind()
        ),
    };
    let columns = names
        .into_iter()
        .zip(columns)
        .map(|(name, cells)| column(name, cells))
        .collect::<Result<Vec<Column>>>()?;
    Ok(DataFrame::new_infer_height(columns)?)
}

/// A `T` read back from a frame written by [`to_frame`]: `Vec<Row>` for
/// rows, a struct for a record.
///
/// # Errors
/// A missing column, a cell that does not fit the field's type, or (for a
/// record) a scalar field whose column is not constant; the message names
/// the column.
pub fn from_frame<T: DeserializeOwned>(frame: &DataFrame) -> Result<T> {
    let columns = frame
        .columns()
        .iter()
        .map(|c| Ok((c.name().to_string(), cells(c)?)))
        .collect::<Result<Vec<(String, Vec<Cell>)>>>()?;
    T::deserialize(FrameDe {
        columns: &columns,
        height: frame.height(),
    })
    .map_err(|e| anyhow!("{e}"))
}

/// `#[serde(with = "analysis::frame::option_as_nan")]` on an
/// `Option<usize>`: stored as a `Float64` cell, NaN for `None`.
pub mod option_as_nan {
    use serde::{Deserialize, Deserializer, Serializer};

    /// `Some(n)` as `n as f64`, `None` as NaN.
    pub fn serialize<S: Serializer>(v: &Option<usize>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(v.map_or(f64::NAN, |n| n as f64))
    }

    /// NaN as `None`, a non-negative whole number as `Some`; anything else
    /// is an error.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<usize>, D::Error> {
        let x = f64::deserialize(d)?;
        if x.is_nan() {
            Ok(None)
        } else if x >= 0.0 && x.fract() == 0.0 && x <= usize::MAX as f64 {
            Ok(Some(x as usize))
        } else {
            Err(serde::de::Error::custom(format!(
                "expected NaN (none) or a count, found {x}"
            )))
        }
    }
}

/// One cell of a column.
#[derive(Debug, Clone, PartialEq)]
enum Cell {
    F64(f64),
    U64(u64),
    I64(i64),
    Bool(bool),
    Str(String),
}

impl Cell {
    fn kind(&self) -> &'static str {
        match self {
            Cell::F64(_) => "f64",
            Cell::U64(_) => "u64",
            Cell::I64(_) => "i64",
            Cell::Bool(_) => "bool",
            Cell::Str(_) => "string",
        }
    }

    /// The value as a reader would write it.
    fn show(&self) -> String {
        match self {
            Cell::F64(x) => x.to_string(),
            Cell::U64(x) => x.to_string(),
            Cell::I64(x) => x.to_string(),
            Cell::Bool(x) => x.to_string(),
            Cell::Str(x) => format!("{x:?}"),
        }
    }

    /// Equality that treats every NaN as equal (a constant NaN column).
    fn same(&self, other: &Cell) -> bool {
        match (self, other) {
            (Cell::F64(a), Cell::F64(b)) => a == b || (a.is_nan() && b.is_nan()),
            _ => self == other,
        }
    }
}

/// What a value serialises to, before it is laid out as columns.
#[derive(Debug)]
enum Tree {
    Cell(Cell),
    Seq(Vec<Tree>),
    Struct(Vec<(&'static str, Tree)>),
    Unsupported(&'static str),
}

impl Tree {
    fn kind(&self) -> &'static str {
        match self {
            Tree::Cell(c) => c.kind(),
            Tree::Seq(_) => "a sequence",
            Tree::Struct(_) => "a struct",
            Tree::Unsupported(what) => what,
        }
    }

    fn cell(self, field: &str) -> Result<Cell> {
        match self {
            Tree::Cell(c) => Ok(c),
            other => bail!(
                "field {field:?}: a cell must be a scalar, not {}",
                other.kind()
            ),
        }
    }
}

/// Rows, or records one after another: each element is laid out as a
/// record (a row is a record of height 1) and the columns concatenated.
fn rows_to_columns(rows: Vec<Tree>) -> Result<(Vec<&'static str>, Vec<Vec<Cell>>)> {
    let mut names: Vec<&'static str> = Vec::new();
    let mut columns: Vec<Vec<Cell>> = Vec::new();
    for (i, row) in rows.into_iter().enumerate() {
        let Tree::Struct(fields) = row else {
            bail!("element {i} is {}, not a struct", row.kind());
        };
        let (these, cells) = record_to_columns(fields)?;
        if i == 0 {
            names = these;
            columns = cells;
            continue;
        }
        anyhow::ensure!(
            these == names,
            "element {i} has fields {these:?}, the first {names:?}"
        );
        for (col, more) in columns.iter_mut().zip(cells) {
            col.extend(more);
        }
    }
    Ok((names, columns))
}

fn record_to_columns(
    fields: Vec<(&'static str, Tree)>,
) -> Result<(Vec<&'static str>, Vec<Vec<Cell>>)> {
    let height = fields
        .iter()
        .filter_map(|(name, t)| match t {
            Tree::Seq(v) => Some((*name, v.len())),
            _ => None,
        })
        .try_fold(None, |n: Option<(&str, usize)>, (name, len)| match n {
            Some((first, m)) if m != len => {
                bail!("column {name:?} has {len} values, column {first:?} {m}")
            }
            _ => Ok(Some(n.unwrap_or((name, len)))),
        })?
        .map_or(1, |(_, n)| n);
    if height == 0 {
        if let Some((name, _)) = fields.iter().find(|(_, t)| !matches!(t, Tree::Seq(_))) {
            bail!(
                "field {name:?}: a record whose columns are empty cannot store its scalar fields \
                 (nothing to repeat them on)"
            );
        }
    }
    let mut names = Vec::with_capacity(fields.len());
    let mut columns = Vec::with_capacity(fields.len());
    for (name, value) in fields {
        let cells = match value {
            Tree::Seq(items) => items
                .into_iter()
                .map(|t| t.cell(name))
                .collect::<Result<Vec<Cell>>>()?,
            scalar => vec![scalar.cell(name)?; height],
        };
        names.push(name);
        columns.push(cells);
    }
    Ok((names, columns))
}

/// Cells of one kind as a typed polars column.
fn column(name: &str, cells: Vec<Cell>) -> Result<Column> {
    fn all<T>(name: &str, cells: Vec<Cell>, get: impl Fn(Cell) -> Option<T>) -> Result<Vec<T>> {
        cells
            .into_iter()
            .map(|c| {
                let kind = c.kind();
                get(c).ok_or_else(|| anyhow!("column {name:?} mixes cell types ({kind})"))
            })
            .collect()
    }
    let name = PlSmallStr::from(name);
    // One arm per cell type: the column holds that type's values.
    macro_rules! typed {
        ($variant:ident) => {
            Column::new(
                name.clone(),
                all(&name, cells, |c| match c {
                    Cell::$variant(x) => Some(x),
                    _ => None,
                })?,
            )
        };
    }
    Ok(match cells.first() {
        None | Some(Cell::F64(_)) => typed!(F64),
        Some(Cell::U64(_)) => typed!(U64),
        Some(Cell::I64(_)) => typed!(I64),
        Some(Cell::Bool(_)) => typed!(Bool),
        Some(Cell::Str(_)) => typed!(Str),
    })
}

/// A polars column's values as cells (nulls are an error, except in float
/// columns, where they read as NaN).
fn cells(c: &Column) -> Result<Vec<Cell>> {
    let name = c.name().to_string();
    let missing = || anyhow!("column {name:?} has a missing value");
    let read = || -> Result<Vec<Cell>> {
        Ok(match c.dtype() {
            DataType::Float64 | DataType::Float32 => {
                let c = c.cast(&DataType::Float64)?;
                c.f64()?
                    .iter()
                    .map(|x| Cell::F64(x.unwrap_or(f64::NAN)))
                    .collect()
            }
            DataType::UInt8 | DataType::UInt16 | DataType::UInt32 | DataType::UInt64 => {
                let c = c.cast(&DataType::UInt64)?;
                c.u64()?
                    .iter()
                    .map(|x| x.map(Cell::U64).ok_or_else(missing))
                    .collect::<Result<_>>()?
            }
            DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64 => {
                let c = c.cast(&DataType::Int64)?;
                c.i64()?
                    .iter()
                    .map(|x| x.map(Cell::I64).ok_or_else(missing))
                    .collect::<Result<_>>()?
            }
            DataType::Boolean => c
                .bool()?
                .iter()
                .map(|x| x.map(Cell::Bool).ok_or_else(missing))
                .collect::<Result<_>>()?,
            DataType::String => c
                .str()?
                .iter()
                .map(|x| x.map(|s| Cell::Str(s.to_string())).ok_or_else(missing))
                .collect::<Result<_>>()?,
            other => bail!("column {name:?} has type {other}, which no run field uses"),
        })
    };
    read().with_context(|| format!("reading column {name:?}"))
}

// ---------------------------------------------------------------------------
// Serialisation: any value -> Tree.

#[derive(Debug)]
struct Error(String);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

impl ser::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Error(msg.to_string())
    }
}

impl de::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Error(msg.to_string())
    }
}

struct TreeSer;

/// Collects the elements of a sequence or the fields of a struct.
struct Collect {
    items: Vec<Tree>,
    fields: Vec<(&'static str, Tree)>,
}

macro_rules! cell {
    ($($method:ident($t:ty) => $cell:expr;)*) => {
        $(fn $method(self, v: $t) -> Result<Tree, Error> {
            #[allow(clippy::redundant_closure_call)]
            Ok(Tree::Cell(($cell)(v)))
        })*
    };
}

impl ser::Serializer for TreeSer {
    type Ok = Tree;
    type Error = Error;
    type SerializeSeq = Collect;
    type SerializeTuple = ser::Impossible<Tree, Error>;
    type SerializeTupleStruct = ser::Impossible<Tree, Error>;
    type SerializeTupleVariant = ser::Impossible<Tree, Error>;
    type SerializeMap = ser::Impossible<Tree, Error>;
    type SerializeStruct = Collect;
    type SerializeStructVariant = ser::Impossible<Tree, Error>;

    cell! {
        serialize_bool(bool) => Cell::Bool;
        serialize_i8(i8) => |v| Cell::I64(i64::from(v));
        serialize_i16(i16) => |v| Cell::I64(i64::from(v));
        serialize_i32(i32) => |v| Cell::I64(i64::from(v));
        serialize_i64(i64) => Cell::I64;
        serialize_u8(u8) => |v| Cell::U64(u64::from(v));
        serialize_u16(u16) => |v| Cell::U64(u64::from(v));
        serialize_u32(u32) => |v| Cell::U64(u64::from(v));
        serialize_u64(u64) => Cell::U64;
        serialize_f32(f32) => |v| Cell::F64(f64::from(v));
        serialize_f64(f64) => Cell::F64;
        serialize_char(char) => |v: char| Cell::Str(v.to_string());
        serialize_str(&str) => |v: &str| Cell::Str(v.to_string());
    }

    fn serialize_bytes(self, _: &[u8]) -> Result<Tree, Error> {
        Ok(Tree::Unsupported("bytes"))
    }
    fn serialize_none(self) -> Result<Tree, Error> {
        Ok(Tree::Unsupported("an Option (use frame::option_as_nan)"))
    }
    fn serialize_some<T: ?Sized + Serialize>(self, _: &T) -> Result<Tree, Error> {
        // Refused whatever the value, so a run cannot store fine until the
        // first None (use option_as_nan for an optional count).
        Ok(Tree::Unsupported("an Option (use frame::option_as_nan)"))
    }
    fn serialize_unit(self) -> Result<Tree, Error> {
        Ok(Tree::Unsupported("()"))
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<Tree, Error> {
        Ok(Tree::Unsupported("a unit struct"))
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<Tree, Error> {
        Ok(Tree::Cell(Cell::Str(variant.to_string())))
    }
    fn serialize_newtype_struct<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        v: &T,
    ) -> Result<Tree, Error> {
        v.serialize(self)
    }
    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<Tree, Error> {
        Ok(Tree::Unsupported("an enum variant with data"))
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<Collect, Error> {
        Ok(Collect {
            items: Vec::with_capacity(len.unwrap_or(0)),
            fields: Vec::new(),
        })
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, Error> {
        Err(Error(
            "a frame cannot hold a tuple or array (use a Vec)".into(),
        ))
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, Error> {
        Err(Error("a frame cannot hold a tuple struct".into()))
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, Error> {
        Err(Error(
            "a frame cannot hold an enum variant with data".into(),
        ))
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, Error> {
        Err(Error("a frame cannot hold a map".into()))
    }
    fn serialize_struct(self, _: &'static str, len: usize) -> Result<Collect, Error> {
        Ok(Collect {
            items: Vec::new(),
            fields: Vec::with_capacity(len),
        })
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, Error> {
        Err(Error(
            "a frame cannot hold an enum variant with data".into(),
        ))
    }
}

impl ser::SerializeSeq for Collect {
    type Ok = Tree;
    type Error = Error;
    fn serialize_element<T: ?Sized + Serialize>(&mut self, v: &T) -> Result<(), Error> {
        self.items.push(v.serialize(TreeSer)?);
        Ok(())
    }
    fn end(self) -> Result<Tree, Error> {
        Ok(Tree::Seq(self.items))
    }
}

impl ser::SerializeStruct for Collect {
    type Ok = Tree;
    type Error = Error;
    fn serialize_field<T: ?Sized + Serialize>(
        &mut self,
        key: &'static str,
        v: &T,
    ) -> Result<(), Error> {
        let value = v
            .serialize(TreeSer)
            .map_err(|e| Error(format!("field {key:?}: {e}")))?;
        self.fields.push((key, value));
        Ok(())
    }
    fn end(self) -> Result<Tree, Error> {
        Ok(Tree::Struct(self.fields))
    }
}

// ---------------------------------------------------------------------------
// Deserialisation: frame -> rows or a record.

type Columns = [(String, Vec<Cell>)];

/// The whole frame: a sequence of rows, or one record.
struct FrameDe<'a> {
    columns: &'a Columns,
    height: usize,
}

impl<'de> de::Deserializer<'de> for FrameDe<'_> {
    type Error = Error;

    fn deserialize_any<V: de::Visitor<'de>>(self, _: V) -> Result<V::Value, Error> {
        Err(Error(
            "a frame reads as a sequence of rows or as a struct".into(),
        ))
    }

    fn deserialize_seq<V: de::Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let rows = (0..self.height).map(|row| RowDe {
            columns: self.columns,
            row,
        });
        visitor.visit_seq(de::value::SeqDeserializer::new(rows))
    }

    fn deserialize_struct<V: de::Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        let present = fields.iter().filter_map(|f| {
            let (_, cells) = self.columns.iter().find(|(n, _)| n == f)?;
            Some((*f, ColumnDe { name: f, cells }))
        });
        visitor.visit_map(de::value::MapDeserializer::new(present))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 u8 u16 u32 u64 f32 f64 char str string bytes
        byte_buf option unit unit_struct newtype_struct tuple tuple_struct
        map enum identifier ignored_any
    }
}

/// Row `row` of the frame, as a struct.
struct RowDe<'a> {
    columns: &'a Columns,
    row: usize,
}

impl<'de> IntoDeserializer<'de, Error> for RowDe<'_> {
    type Deserializer = Self;
    fn into_deserializer(self) -> Self {
        self
    }
}

impl<'de> de::Deserializer<'de> for RowDe<'_> {
    type Error = Error;

    fn deserialize_any<V: de::Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let row = self.row;
        let cells = self.columns.iter().map(move |(n, c)| {
            (
                n.as_str(),
                CellDe {
                    name: n,
                    cell: &c[row],
                },
            )
        });
        visitor.visit_map(de::value::MapDeserializer::new(cells))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 u8 u16 u32 u64 f32 f64 char str string bytes
        byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct
        map struct enum identifier ignored_any
    }
}

/// One column: a sequence for a sequence field, its (constant) value for a
/// scalar field of a record.
struct ColumnDe<'a> {
    name: &'a str,
    cells: &'a [Cell],
}

impl<'de> IntoDeserializer<'de, Error> for ColumnDe<'_> {
    type Deserializer = Self;
    fn into_deserializer(self) -> Self {
        self
    }
}

impl<'a> ColumnDe<'a> {
    /// The column's one value, for a scalar field of a record: an error if
    /// the column is empty or holds more than one value.
    fn constant(&self) -> Result<CellDe<'a>, Error> {
        let name = self.name;
        let first = self.cells.first().ok_or_else(|| {
            Error(format!(
                "column {name:?} is empty: no value for a scalar field"
            ))
        })?;
        if let Some(other) = self.cells.iter().find(|c| !c.same(first)) {
            return Err(Error(format!(
                "column {name:?} is read as one value but holds {} and {}",
                first.show(),
                other.show()
            )));
        }
        Ok(CellDe { name, cell: first })
    }
}

impl<'de> de::Deserializer<'de> for ColumnDe<'_> {
    type Error = Error;

    fn deserialize_any<V: de::Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.constant()?.deserialize_any(visitor)
    }

    fn deserialize_seq<V: de::Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let name = self.name;
        visitor.visit_seq(de::value::SeqDeserializer::new(
            self.cells.iter().map(move |cell| CellDe { name, cell }),
        ))
    }

    fn deserialize_option<V: de::Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_some(self)
    }

    fn deserialize_enum<V: de::Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.constant()?.deserialize_enum(name, variants, visitor)
    }

    fn deserialize_newtype_struct<V: de::Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 u8 u16 u32 u64 f32 f64 char str string bytes
        byte_buf unit unit_struct tuple tuple_struct
        map struct identifier ignored_any
    }
}

/// One cell.
struct CellDe<'a> {
    name: &'a str,
    cell: &'a Cell,
}

impl<'de> IntoDeserializer<'de, Error> for CellDe<'_> {
    type Deserializer = Self;
    fn into_deserializer(self) -> Self {
        self
    }
}

impl<'de> de::Deserializer<'de> for CellDe<'_> {
    type Error = Error;

    fn deserialize_any<V: de::Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let r = match self.cell {
            Cell::F64(x) => visitor.visit_f64(*x),
            Cell::U64(x) => visitor.visit_u64(*x),
            Cell::I64(x) => visitor.visit_i64(*x),
            Cell::Bool(x) => visitor.visit_bool(*x),
            Cell::Str(s) => visitor.visit_str(s),
        };
        r.map_err(|e: Error| Error(format!("column {:?}: {e}", self.name)))
    }

    fn deserialize_option<V: de::Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_some(self)
    }

    fn deserialize_enum<V: de::Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self.cell {
            Cell::Str(s) => visitor
                .visit_enum(s.as_str().into_deserializer())
                .map_err(|e: Error| Error(format!("column {:?}: {e}", self.name))),
            other => Err(Error(format!(
                "column {:?}: expected a variant name, found {other:?}",
                self.name
            ))),
        }
    }

    fn deserialize_newtype_struct<V: de::Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 u8 u16 u32 u64 f32 f64 char str string bytes
        byte_buf unit unit_struct seq tuple tuple_struct
        map struct identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::{Deserialize, Serialize};

    #[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
    #[serde(rename_all = "lowercase")]
    enum Method {
        Plain,
        Controller,
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Run {
        arch: String,
        seed: u64,
        method: Method,
        #[serde(with = "option_as_nan")]
        stop: Option<usize>,
        base: f64,
        r: Vec<f64>,
        applied: Vec<u64>,
        #[serde(skip)]
        note: String,
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Row {
        stage: String,
        direction: usize,
        x: f64,
        flag: bool,
        delta: i64,
    }

    fn run() -> Run {
        Run {
            arch: "mlp".into(),
            seed: 3,
            method: Method::Controller,
            stop: None,
            base: 0.5,
            r: vec![0.1, f64::INFINITY, f64::NAN],
            applied: vec![1, 0, 1],
            note: String::new(),
        }
    }

    #[test]
    fn a_record_round_trips_with_scalars_repeated_in_field_order() {
        let f = to_frame(&run()).unwrap();
        let names: Vec<&str> = f.get_column_names().iter().map(|n| n.as_str()).collect();
        assert_eq!(
            names,
            ["arch", "seed", "method", "stop", "base", "r", "applied"]
        );
        assert_eq!(f.height(), 3);
        assert_eq!(f.column("seed").unwrap().dtype(), &DataType::UInt64);
        assert_eq!(f.column("method").unwrap().dtype(), &DataType::String);
        assert_eq!(f.column("stop").unwrap().dtype(), &DataType::Float64);
        let back: Run = from_frame(&f).unwrap();
        assert_eq!(back.arch, "mlp");
        assert_eq!(
            (back.seed, back.method, back.stop, back.base),
            (3, Method::Controller, None, 0.5)
        );
        assert_eq!(back.r[..2], [0.1, f64::INFINITY]);
        assert!(back.r[2].is_nan());
        assert_eq!(back.applied, [1, 0, 1]);
        let stopped = Run {
            stop: Some(7),
            ..run()
        };
        let back: Run = from_frame(&to_frame(&stopped).unwrap()).unwrap();
        assert_eq!(back.stop, Some(7));
    }

    #[test]
    fn the_same_frame_as_written_column_by_column() {
        let by_hand = df!(
            "arch" => vec!["mlp"; 3],
            "seed" => vec![3u64; 3],
            "method" => vec!["controller"; 3],
            "stop" => vec![f64::NAN; 3],
            "base" => vec![0.5; 3],
            "r" => [0.1, f64::INFINITY, f64::NAN],
            "applied" => [1u64, 0, 1],
        )
        .unwrap();
        let ours = to_frame(&run()).unwrap();
        assert_eq!(ours.schema(), by_hand.schema());
        for (a, b) in ours.columns().iter().zip(by_hand.columns()) {
            let (a, b) = (cells(a).unwrap(), cells(b).unwrap());
            assert_eq!(a.len(), b.len());
            for (x, y) in a.iter().zip(&b) {
                match (x, y) {
                    (Cell::F64(x), Cell::F64(y)) => assert_eq!(x.to_bits(), y.to_bits()),
                    _ => assert_eq!(x, y),
                }
            }
        }
    }

    #[test]
    fn records_one_after_another_read_back_by_slices() {
        let runs = [
            run(),
            Run {
                seed: 4,
                r: vec![2.0],
                applied: vec![0],
                ..run()
            },
        ];
        let f = to_frame(&runs[..]).unwrap();
        assert_eq!(f.height(), 4);
        let first: Run = from_frame(&f.slice(0, 3)).unwrap();
        let second: Run = from_frame(&f.slice(3, 1)).unwrap();
        assert_eq!(
            (first.seed, second.seed, second.r.clone()),
            (3, 4, vec![2.0])
        );
    }

    #[test]
    fn rows_round_trip() {
        let rows = vec![
            Row {
                stage: "early".into(),
                direction: 0,
                x: -1.5,
                flag: true,
                delta: -2,
            },
            Row {
                stage: "late".into(),
                direction: 4,
                x: 2.0,
                flag: false,
                delta: 9,
            },
        ];
        let f = to_frame(&rows).unwrap();
        assert_eq!(f.shape(), (2, 5));
        assert_eq!(f.column("delta").unwrap().dtype(), &DataType::Int64);
        let back: Vec<Row> = from_frame(&f).unwrap();
        assert_eq!(back, rows);
    }

    #[test]
    fn bad_frames_name_the_column() {
        // Sequences of different lengths.
        #[derive(Serialize)]
        struct Ragged {
            a: Vec<f64>,
            b: Vec<f64>,
        }
        let e = to_frame(&Ragged {
            a: vec![1.0],
            b: vec![1.0, 2.0],
        })
        .unwrap_err();
        assert!(e.to_string().contains("\"b\""), "{e}");
        // A scalar field over a column that is not constant.
        let f = df!("arch" => ["a", "b"], "seed" => [1u64, 1], "method" => ["plain", "plain"],
            "stop" => [f64::NAN, f64::NAN], "base" => [1.0, 1.0], "r" => [1.0, 2.0],
            "applied" => [1u64, 1])
        .unwrap();
        let e = from_frame::<Run>(&f).unwrap_err();
        assert!(e.to_string().contains("\"arch\""), "{e}");
        // ... also for an enum field.
        let mut g = f.drop("arch").unwrap();
        g.with_column(Column::new("arch".into(), ["a", "a"]))
            .unwrap();
        g.with_column(Column::new("method".into(), ["plain", "controller"]))
            .unwrap();
        let e = from_frame::<Run>(&g).unwrap_err();
        assert!(e.to_string().contains("\"method\""), "{e}");
        // A missing column.
        let good = to_frame(&run()).unwrap();
        let e = from_frame::<Run>(&good.drop("r").unwrap()).unwrap_err();
        assert!(e.to_string().contains("`r`"), "{e}");
        // A value of the wrong type.
        let mut g = f.drop("arch").unwrap();
        g.with_column(Column::new("arch".into(), [1.0, 1.0]))
            .unwrap();
        let e = from_frame::<Run>(&g).unwrap_err();
        assert!(e.to_string().contains("\"arch\""), "{e}");
        // A string where a number belongs.
        let rows = df!("stage" => ["x"], "direction" => [1u64], "x" => [1.0], "flag" => [true], "delta" => ["no"]).unwrap();
        let e = from_frame::<Vec<Row>>(&rows).unwrap_err();
        assert!(e.to_string().contains("delta"), "{e}");
        // None without option_as_nan.
        #[derive(Serialize)]
        struct WithNone {
            x: Option<f64>,
        }
        assert!(to_frame(&WithNone { x: None }).is_err());
        // ... and Some too: an Option is refused whatever its value.
        let e = to_frame(&WithNone { x: Some(1.0) }).unwrap_err();
        assert!(e.to_string().contains("\"x\""), "{e}");
        // Maps, arrays and nested structs in a record: refused, naming the field.
        #[derive(Serialize)]
        struct Odd {
            ok: f64,
            pair: [f64; 2],
        }
        let e = to_frame(&Odd {
            ok: 1.0,
            pair: [1.0, 2.0],
        })
        .unwrap_err();
        assert!(e.to_string().contains("\"pair\""), "{e}");
        #[derive(Serialize)]
        struct WithMap {
            m: std::collections::BTreeMap<String, f64>,
        }
        let e = to_frame(&WithMap {
            m: Default::default(),
        })
        .unwrap_err();
        assert!(e.to_string().contains("\"m\""), "{e}");
    }

    #[test]
    fn edge_cases_of_records() {
        // A record of scalars only is one row.
        #[derive(Debug, PartialEq, Serialize, Deserialize)]
        struct Scalars {
            a: f64,
            b: String,
        }
        let one = Scalars {
            a: -0.0,
            b: "x".into(),
        };
        let f = to_frame(&one).unwrap();
        assert_eq!(f.height(), 1);
        let back: Scalars = from_frame(&f).unwrap();
        assert_eq!(back.a.to_bits(), (-0.0f64).to_bits());
        // Empty columns leave nothing to repeat a scalar on: refused at
        // write time (not at read time, after the run is stored).
        let empty = Run {
            r: vec![],
            applied: vec![],
            ..run()
        };
        let e = to_frame(&empty).unwrap_err();
        assert!(e.to_string().contains("\"arch\""), "{e}");
        // No rows is an empty frame.
        let f = to_frame(&Vec::<Row>::new()).unwrap();
        assert_eq!(f.shape(), (0, 0));
        assert!(from_frame::<Vec<Row>>(&f).unwrap().is_empty());
        // A skipped field is not stored and comes back as its default.
        let noted = Run {
            note: "kept in memory only".into(),
            ..run()
        };
        let f = to_frame(&noted).unwrap();
        assert!(f.column("note").is_err());
        assert_eq!(from_frame::<Run>(&f).unwrap().note, "");
        // NaNs with different payloads are one constant value.
        let other_nan = f64::from_bits(f64::NAN.to_bits() ^ 1);
        assert!(other_nan.is_nan());
        let f = df!("a" => [f64::NAN, other_nan], "b" => ["x", "x"]).unwrap();
        assert!(from_frame::<Scalars>(&f).unwrap().a.is_nan());
        // A newtype field is stored as its inner value.
        #[derive(Debug, PartialEq, Serialize, Deserialize)]
        struct Meters(f64);
        #[derive(Debug, PartialEq, Serialize, Deserialize)]
        struct WithNewtype {
            d: Meters,
            ds: Vec<Meters>,
        }
        let w = WithNewtype {
            d: Meters(2.5),
            ds: vec![Meters(1.0), Meters(3.0)],
        };
        let f = to_frame(&w).unwrap();
        assert_eq!(f.column("d").unwrap().dtype(), &DataType::Float64);
        assert_eq!(from_frame::<WithNewtype>(&f).unwrap(), w);
    }

    #[test]
    fn option_as_nan_reads_only_nan_or_a_count() {
        #[derive(Debug, Deserialize)]
        struct Stop {
            #[serde(with = "option_as_nan")]
            #[allow(dead_code)]
            stop: Option<usize>,
        }
        for bad in [f64::INFINITY, -1.0, 2.5] {
            let f = df!("stop" => [bad]).unwrap();
            let e = from_frame::<Stop>(&f).unwrap_err();
            assert!(e.to_string().contains("count"), "{bad}: {e}");
        }
        let f = df!("stop" => [4.0]).unwrap();
        assert_eq!(from_frame::<Stop>(&f).unwrap().stop, Some(4));
    }
}
