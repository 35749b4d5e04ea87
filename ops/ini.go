package ops

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"
)

// INI is a set of PHP ini settings, as PHP would see them after reading its
// configuration: names are exact ("session.save_path"), values are strings
// as ini_get() returns them (On is "1", Off ""). Source says where they came
// from, for explanations.
type INI struct {
	Values map[string]string
	Source string
}

// Get returns a setting and whether it was set.
func (ini *INI) Get(name string) (string, bool) {
	if ini == nil {
		return "", false
	}
	v, ok := ini.Values[name]
	return v, ok
}

// ParsePHPIni reads a php.ini file, or a PHP-FPM pool file whose
// php_value[...] / php_admin_value[...] / php_flag[...] lines set ini
// settings. It follows PHP's ini syntax: ; comments, [sections] (the
// [HOST=...] and [PATH=...] sections, which only apply to some requests, are
// skipped), double- or single-quoted values, On/Off/Yes/No/True/False/None,
// ${ENV} in values. Files it would include from a scan dir (conf.d) are not
// read: use PHPInfo for PHP's full view.
func ParsePHPIni(data []byte, source string) *INI {
	ini := &INI{Values: map[string]string{}, Source: source}
	skip := false
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == ';' || line[0] == '#' {
			continue
		}
		if line[0] == '[' {
			sec := strings.ToUpper(strings.Trim(line, "[] "))
			skip = strings.HasPrefix(sec, "HOST=") || strings.HasPrefix(sec, "PATH=")
			continue
		}
		if skip {
			continue
		}
		name, val, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		name = strings.TrimSpace(name)
		for _, pre := range []string{"php_admin_value[", "php_value[", "php_admin_flag[", "php_flag["} {
			if rest, ok := strings.CutPrefix(name, pre); ok {
				name = strings.TrimSuffix(rest, "]")
			}
		}
		ini.Values[name] = iniValue(strings.TrimSpace(val))
	}
	return ini
}

// iniValue decodes a php.ini value: quoted strings as they are, unquoted
// ones up to a ; comment, with PHP's boolean words.
func iniValue(v string) string {
	if v == "" {
		return ""
	}
	if q := v[0]; q == '"' || q == '\'' {
		if end := strings.IndexByte(v[1:], q); end >= 0 {
			s := v[1 : 1+end]
			if q == '"' {
				s = os.Expand(s, os.Getenv)
			}
			return s
		}
	}
	if i := strings.IndexByte(v, ';'); i >= 0 {
		v = strings.TrimSpace(v[:i])
	}
	switch strings.ToLower(v) {
	case "on", "yes", "true":
		return "1"
	case "off", "no", "false", "none":
		return ""
	}
	return os.Expand(v, os.Getenv)
}

// ParsePHPInfo reads the text output of php -i: "name => local => master"
// lines; the local value is kept ("no value" is empty).
func ParsePHPInfo(out []byte, source string) *INI {
	ini := &INI{Values: map[string]string{}, Source: source}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		parts := strings.Split(sc.Text(), " => ")
		if len(parts) < 2 {
			continue
		}
		name := strings.TrimSpace(parts[0])
		val := parts[1]
		if len(parts) > 3 {
			// a value holding " => ": local and master are equal halves
			val = strings.Join(parts[1:1+(len(parts)-1)/2], " => ")
		}
		if val == "no value" {
			val = ""
		}
		if name == "Loaded Configuration File" {
			ini.Source += " (php.ini: " + val + ")"
		}
		if _, seen := ini.Values[name]; !seen {
			ini.Values[name] = val
		}
	}
	return ini
}

// PHPInfo runs php -i (php -c iniFile -i when iniFile is given) and reads
// its settings: PHP's full view of its configuration, conf.d and extension
// defaults included, for the CLI. The web server's PHP (FPM, Apache) may
// read another php.ini: pass that one as iniFile.
func PHPInfo(ctx context.Context, php, iniFile string) (*INI, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	args := []string{"-i"}
	src := php + " -i"
	if iniFile != "" {
		args = []string{"-c", iniFile, "-i"}
		src = php + " -c " + iniFile + " -i"
	}
	cmd := exec.CommandContext(ctx, php, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		if len(msg) > 200 {
			msg = msg[:200] + "..."
		}
		if msg != "" {
			return nil, fmt.Errorf("%s: %v: %s", src, err, msg)
		}
		return nil, fmt.Errorf("%s: %v", src, err)
	}
	return ParsePHPInfo(out, src), nil
}

// ParseDotEnv reads a .env file as CodeIgniter 4's DotEnv does: KEY = VALUE
// lines, optional "export ", # comments, single- or double-quoted values.
// ${VAR} references are not expanded.
func ParseDotEnv(data []byte) map[string]string {
	env := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		line = strings.TrimPrefix(line, "export ")
		name, val, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		name, val = strings.TrimSpace(name), strings.TrimSpace(val)
		if val != "" && (val[0] == '"' || val[0] == '\'') {
			if end := strings.IndexByte(val[1:], val[0]); end >= 0 {
				val = val[1 : 1+end]
			}
		} else if i := strings.Index(val, " #"); i >= 0 {
			val = strings.TrimSpace(val[:i])
		}
		env[name] = val
	}
	return env
}
