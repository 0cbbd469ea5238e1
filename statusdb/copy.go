package statusdb

import (
	"encoding/binary"
	"strings"

	pg "github.com/pganalyze/pg_query_go/v6"
)

// Copy is a COPY (query) TO STDOUT or COPY helios_proxy.table [(columns)]
// TO STDOUT (Stmt.Copy): the caller sends CopyOutResponse with Columns'
// count (in binary format when Binary), then AppendCopyData's CopyData
// messages, CopyDone and CommandComplete "COPY n", as PostgreSQL does for
// psql's \copy.
type Copy struct {
	Query  *Stmt
	binary bool
	csv    bool
	header bool
	delim  byte
	null   string
	quote  byte
	escape byte
	force  []bool // FORCE_QUOTE per column (CSV)
}

// Copy returns what a COPY TO STDOUT statement copies, or nil.
func (s *Stmt) Copy() *Copy { return s.copy }

// Binary reports whether the copy is in COPY's binary format (FORMAT
// binary): CopyOutResponse's overall and column formats are 1.
func (c *Copy) Binary() bool { return c.binary }

// copyStmt plans COPY ... TO STDOUT over a status query; inner prepares
// the query.
func copyStmt(sql string, c *pg.CopyStmt, inner func(*pg.Node) (*Stmt, error)) (*Stmt, *Error, bool) {
	if c.Filename != "" || c.IsProgram {
		return nil, &Error{Code: codeInsufficientPriv, Message: "must be superuser or have privileges of the pg_write_server_files role to COPY to a file",
			Hint: "Anyone can COPY to stdout or from stdin. psql's \\copy command also works for anyone."}, true
	}
	query := c.Query
	if query == nil {
		// COPY table [(columns)] TO: the rows of SELECT columns FROM table.
		sel := &pg.SelectStmt{Op: pg.SetOperation_SETOP_NONE, LimitOption: pg.LimitOption_LIMIT_OPTION_DEFAULT, FromClause: []*pg.Node{{Node: &pg.Node_RangeVar{RangeVar: c.Relation}}}}
		if len(c.Attlist) == 0 {
			sel.TargetList = []*pg.Node{pg.MakeResTargetNodeWithVal(pg.MakeColumnRefNode([]*pg.Node{pg.MakeAStarNode()}, c.Relation.Location), c.Relation.Location)}
		}
		for _, a := range c.Attlist {
			sel.TargetList = append(sel.TargetList, pg.MakeResTargetNodeWithVal(pg.MakeColumnRefNode([]*pg.Node{a}, c.Relation.Location), c.Relation.Location))
		}
		query = &pg.Node{Node: &pg.Node_SelectStmt{SelectStmt: sel}}
	}
	q, err := inner(query)
	if err != nil {
		var e *Error
		if ee, ok := err.(*Error); ok {
			e = ee
		} else {
			e = errorf("XX000", "%v", err)
		}
		return nil, e, true
	}
	if !q.ReturnsRows() || q.tag != "" {
		return nil, unsupported("COPY of this statement"), true
	}
	cp := &Copy{Query: q, delim: '\t', null: `\N`, quote: '"'}
	var delim, null, quote, escape *string
	var forceAll bool
	var forceCols []string
	for _, o := range c.Options {
		d := o.GetDefElem()
		if d == nil {
			continue
		}
		arg := defString(d.Arg)
		switch d.Defname {
		case "format":
			switch arg {
			case "text":
			case "csv":
				cp.csv = true
			case "binary":
				cp.binary = true
			default:
				return nil, (&Error{Code: codeInvalidParamValue, Message: "COPY format \"" + arg + "\" not recognized"}).at(sql, d.Location), true
			}
		case "header":
			switch strings.ToLower(arg) {
			case "", "true", "on", "1":
				cp.header = true
			case "false", "off", "0":
			case "match":
				return nil, (&Error{Code: codeFeature, Message: "cannot use \"match\" with HEADER in COPY TO"}).at(sql, d.Location), true
			default:
				return nil, (&Error{Code: codeSyntax, Message: "header requires a Boolean value or \"match\""}).at(sql, d.Location), true
			}
		case "delimiter":
			delim = &arg
		case "null":
			null = &arg
		case "quote":
			quote = &arg
		case "escape":
			escape = &arg
		case "force_quote":
			if _, ok := d.Arg.GetNode().(*pg.Node_AStar); ok {
				forceAll = true
			}
			for _, n := range d.Arg.GetList().GetItems() {
				forceCols = append(forceCols, n.GetString_().GetSval())
			}
		case "encoding":
			if !strings.EqualFold(strings.ReplaceAll(arg, "-", ""), "utf8") {
				return nil, unsupported("COPY with an encoding other than UTF8"), true
			}
		default:
			return nil, (&Error{Code: codeSyntax, Message: "option \"" + d.Defname + "\" not recognized"}).at(sql, d.Location), true
		}
	}
	if cp.binary {
		switch {
		case delim != nil:
			return nil, errorf(codeSyntax, "cannot specify DELIMITER in BINARY mode"), true
		case null != nil:
			return nil, errorf(codeSyntax, "cannot specify NULL in BINARY mode"), true
		}
	}
	if cp.csv {
		cp.delim, cp.null = ',', ""
	}
	if delim != nil {
		if len(*delim) != 1 {
			return nil, errorf(codeFeature, "COPY delimiter must be a single one-byte character"), true
		}
		cp.delim = (*delim)[0]
	}
	if null != nil {
		cp.null = *null
	}
	if cp.binary && cp.header {
		return nil, errorf(codeFeature, "cannot specify HEADER in BINARY mode"), true
	}
	if !cp.csv {
		switch {
		case quote != nil:
			return nil, errorf(codeFeature, "COPY quote available only in CSV mode"), true
		case escape != nil:
			return nil, errorf(codeFeature, "COPY escape available only in CSV mode"), true
		case forceAll || forceCols != nil:
			return nil, errorf(codeFeature, "COPY force quote available only in CSV mode"), true
		}
	}
	if quote != nil {
		if len(*quote) != 1 {
			return nil, errorf(codeFeature, "COPY quote must be a single one-byte character"), true
		}
		cp.quote = (*quote)[0]
	}
	cp.escape = cp.quote
	if escape != nil {
		if len(*escape) != 1 {
			return nil, errorf(codeFeature, "COPY escape must be a single one-byte character"), true
		}
		cp.escape = (*escape)[0]
	}
	if cp.csv && cp.delim == cp.quote {
		return nil, errorf(codeInvalidParamValue, "COPY delimiter and quote must be different"), true
	}
	cp.force = make([]bool, len(q.cols))
	for i := range cp.force {
		cp.force[i] = forceAll
	}
	for _, name := range forceCols {
		i := slicesIndexColumn(q.cols, name)
		if i < 0 {
			return nil, errorf(codeUndefinedColumn, "column \"%s\" does not exist", name), true
		}
		cp.force[i] = true
	}
	return &Stmt{sql: sql, tag: "COPY", copy: cp, events: q.events, paramTypes: q.paramTypes, paramOIDs: q.paramOIDs}, nil, true
}

func slicesIndexColumn(cols []Column, name string) int {
	for i, c := range cols {
		if c.Name == name {
			return i
		}
	}
	return -1
}

// defString is a DefElem argument as text: a string, a keyword, a number
// or a Boolean; "" when there is none.
func defString(n *pg.Node) string {
	switch v := n.GetNode().(type) {
	case *pg.Node_String_:
		return v.String_.Sval
	case *pg.Node_Boolean:
		if v.Boolean.Boolval {
			return "true"
		}
		return "false"
	case *pg.Node_Integer:
		if v.Integer.Ival != 0 {
			return "1"
		}
		return "0"
	case *pg.Node_TypeName:
		if names := v.TypeName.Names; len(names) > 0 {
			return names[len(names)-1].GetString_().GetSval()
		}
	}
	return ""
}

// AppendCopyData computes the query's rows over in and appends them to
// dst as CopyData messages, one per line (the header line first when
// asked), in COPY's text or CSV format as PostgreSQL writes them; rows is
// how many rows were copied. On an error dst comes back as it was.
func (c *Copy) AppendCopyData(dst []byte, in Input, params [][]byte, paramFormats []int16) (out []byte, rows int, err error) {
	ncol := len(c.Query.cols)
	if c.binary {
		return c.appendBinary(dst, in, params, paramFormats)
	}
	text := make([]int16, ncol)
	data, n, err := c.Query.AppendDataRows(nil, in, params, paramFormats, text)
	if err != nil {
		return dst, 0, err
	}
	if c.header {
		at := len(dst)
		dst = append(dst, 'd', 0, 0, 0, 0)
		for i, col := range c.Query.cols {
			if i > 0 {
				dst = append(dst, c.delim)
			}
			dst = c.appendField(dst, []byte(col.Name), false, ncol == 1)
		}
		dst = append(dst, '\n')
		binary.BigEndian.PutUint32(dst[at+1:], uint32(len(dst)-at-1))
	}
	for len(data) > 0 {
		size := int(binary.BigEndian.Uint32(data[1:]))
		row := data[7 : 1+size] // past 'D', the length and the column count
		data = data[1+size:]
		at := len(dst)
		dst = append(dst, 'd', 0, 0, 0, 0)
		for i := range ncol {
			if i > 0 {
				dst = append(dst, c.delim)
			}
			l := int32(binary.BigEndian.Uint32(row))
			row = row[4:]
			if l < 0 {
				dst = append(dst, c.null...)
				continue
			}
			dst = c.appendField(dst, row[:l], c.force[i], ncol == 1)
			row = row[l:]
		}
		dst = append(dst, '\n')
		binary.BigEndian.PutUint32(dst[at+1:], uint32(len(dst)-at-1))
	}
	return dst, n, nil
}

// binarySignature starts COPY's binary format: the signature, then the
// flags (no OIDs) and the header extension's length (none).
var binarySignature = []byte("PGCOPY\n\377\r\n\x00\x00\x00\x00\x00\x00\x00\x00\x00")

// appendBinary appends the rows in COPY's binary format as PostgreSQL's
// CopyTo sends it: each tuple (its field count, then each field's length,
// -1 for NULL, and binary value: a DataRow's body) in one CopyData, the
// header in the first one, and the trailer (-1) in a last one.
func (c *Copy) appendBinary(dst []byte, in Input, params [][]byte, paramFormats []int16) ([]byte, int, error) {
	formats := make([]int16, len(c.Query.cols))
	for i := range formats {
		formats[i] = 1
	}
	data, n, err := c.Query.AppendDataRows(nil, in, params, paramFormats, formats)
	if err != nil {
		return dst, 0, err
	}
	header := binarySignature
	for len(data) > 0 {
		size := int(binary.BigEndian.Uint32(data[1:]))
		tuple := data[5 : 1+size] // past 'D' and the length
		data = data[1+size:]
		dst = append(dst, 'd')
		dst = binary.BigEndian.AppendUint32(dst, uint32(4+len(header)+len(tuple)))
		dst = append(append(dst, header...), tuple...)
		header = nil
	}
	dst = append(dst, 'd')
	dst = binary.BigEndian.AppendUint32(dst, uint32(4+len(header)+2))
	dst = append(append(dst, header...), 0xff, 0xff)
	return dst, n, nil
}

// textEscapes are the control characters COPY's text format writes as a
// backslash and a letter.
var textEscapes = [256]byte{'\b': 'b', '\f': 'f', '\n': 'n', '\r': 'r', '\t': 't', '\v': 'v'}

// appendField appends one value (or column name) as CopyAttributeOutText
// and CopyAttributeOutCSV write it; single says the row has one column.
func (c *Copy) appendField(dst, v []byte, force, single bool) []byte {
	if !c.csv {
		for _, b := range v {
			switch {
			case textEscapes[b] != 0:
				dst = append(dst, '\\', textEscapes[b])
			case b == '\\' || b == c.delim:
				dst = append(dst, '\\', b)
			default:
				dst = append(dst, b)
			}
		}
		return dst
	}
	quote := force || string(v) == c.null
	if !quote {
		if single && string(v) == `\.` {
			quote = true
		}
		for _, b := range v {
			if b == c.delim || b == c.quote || b == '\n' || b == '\r' {
				quote = true
				break
			}
		}
	}
	if !quote {
		return append(dst, v...)
	}
	dst = append(dst, c.quote)
	for _, b := range v {
		if b == c.quote || b == c.escape {
			dst = append(dst, c.escape)
		}
		dst = append(dst, b)
	}
	return append(dst, c.quote)
}
