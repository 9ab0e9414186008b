// Package signing signs imgforge requests as docs/signing.md specifies (scheme
// IMGFORGE-HMAC-SHA256-V1): six headers carrying the key, the user, a millisecond timestamp, a
// random nonce, the SHA-256 of the body and an HMAC-SHA256 over a versioned canonical string.
package signing

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
)

// Scheme is the first line of the canonical string.
const Scheme = "IMGFORGE-HMAC-SHA256-V1"

// Header names (gRPC metadata keys are the same, lowercase).
const (
	HeaderKey           = "x-imgforge-key"
	HeaderUser          = "x-imgforge-user"
	HeaderTimestamp     = "x-imgforge-timestamp"
	HeaderNonce         = "x-imgforge-nonce"
	HeaderContentSHA256 = "x-imgforge-content-sha256"
	HeaderSignature     = "x-imgforge-signature"
)

// Credentials are an API key id, its secret and the end user the calls are made for.
type Credentials struct {
	Key    string
	Secret string
	User   string
}

// String never prints the secret.
func (c Credentials) String() string {
	return fmt.Sprintf("Credentials{Key: %q, Secret: ***, User: %q}", c.Key, c.User)
}

// Header is one name/value pair, in the order Headers returns them.
type Header struct {
	Name, Value string
}

// encode percent-encodes everything but RFC 3986 unreserved characters, uppercase hex.
func encode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' ||
			c == '-' || c == '.' || c == '_' || c == '~' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// CanonicalQuery decodes the raw query ('+' is a space), re-encodes each name and value and
// sorts the pairs by name, then value (byte order).
func CanonicalQuery(rawQuery string) (string, error) {
	values, err := url.ParseQuery(rawQuery)
	if err != nil {
		return "", fmt.Errorf("query %q cannot be parsed: %w", rawQuery, err)
	}
	pairs := make([][2]string, 0, len(values))
	for name, vs := range values {
		for _, v := range vs {
			pairs = append(pairs, [2]string{encode(name), encode(v)})
		}
	}
	sort.Slice(pairs, func(i, j int) bool {
		if pairs[i][0] != pairs[j][0] {
			return pairs[i][0] < pairs[j][0]
		}
		return pairs[i][1] < pairs[j][1]
	})
	parts := make([]string, len(pairs))
	for i, p := range pairs {
		parts[i] = p[0] + "=" + p[1]
	}
	return strings.Join(parts, "&"), nil
}

func checkLine(name, value string) error {
	if value == "" || strings.ContainsAny(value, "\r\n") {
		return fmt.Errorf("%s must be non-empty and on one line, got %q", name, value)
	}
	return nil
}

// CanonicalString is the signed string: nine lines joined by "\n", no trailing newline.
func CanonicalString(method, path, rawQuery, key, user string, timestampMs int64, nonce, bodySHA256 string) (string, error) {
	for _, f := range [][2]string{{"method", method}, {"path", path}, {"key", key}, {"user", user}, {"nonce", nonce}} {
		if err := checkLine(f[0], f[1]); err != nil {
			return "", err
		}
	}
	query, err := CanonicalQuery(rawQuery)
	if err != nil {
		return "", err
	}
	return strings.Join([]string{
		Scheme,
		strings.ToUpper(method),
		path,
		query,
		key,
		user,
		strconv.FormatInt(timestampMs, 10),
		nonce,
		bodySHA256,
	}, "\n"), nil
}

// Signature is HMAC-SHA256 of the canonical string keyed by the secret's bytes, lowercase hex.
func Signature(secret, canonical string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(canonical))
	return hex.EncodeToString(mac.Sum(nil))
}

// NewNonce is 128 random bits as 32 lowercase hex digits.
func NewNonce() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("no randomness for a nonce: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// Headers are the six signature headers for one request. body is the raw HTTP body, or for
// gRPC the serialized request message (without the 5-byte gRPC frame header).
func (c Credentials) Headers(method, path, rawQuery string, body []byte, timestampMs int64, nonce string) ([]Header, error) {
	sum := sha256.Sum256(body)
	bodySHA256 := hex.EncodeToString(sum[:])
	canonical, err := CanonicalString(method, path, rawQuery, c.Key, c.User, timestampMs, nonce, bodySHA256)
	if err != nil {
		return nil, err
	}
	return []Header{
		{HeaderKey, c.Key},
		{HeaderUser, c.User},
		{HeaderTimestamp, strconv.FormatInt(timestampMs, 10)},
		{HeaderNonce, nonce},
		{HeaderContentSHA256, bodySHA256},
		{HeaderSignature, Signature(c.Secret, canonical)},
	}, nil
}

// Context returns ctx with the signature of one gRPC call in its outgoing metadata.
// fullMethod is "/imgforge.v1.Service/Method". Use it for server-streaming calls, whose
// headers leave before an interceptor could see the request.
func (c Credentials) Context(ctx context.Context, fullMethod string, req proto.Message) (context.Context, error) {
	// The default gRPC codec marshals with proto.Marshal too, so this hashes the bytes sent.
	body, err := proto.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("cannot serialize the request to sign it: %w", err)
	}
	nonce, err := NewNonce()
	if err != nil {
		return nil, err
	}
	headers, err := c.Headers("POST", fullMethod, "", body, time.Now().UnixMilli(), nonce)
	if err != nil {
		return nil, err
	}
	kv := make([]string, 0, 2*len(headers))
	for _, h := range headers {
		kv = append(kv, h.Name, h.Value)
	}
	return metadata.AppendToOutgoingContext(ctx, kv...), nil
}

// UnaryClientInterceptor signs every unary call made through a connection:
// grpc.Dial(addr, grpc.WithUnaryInterceptor(creds.UnaryClientInterceptor())).
func (c Credentials) UnaryClientInterceptor() grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply interface{}, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		msg, ok := req.(proto.Message)
		if !ok {
			return fmt.Errorf("imgforge signing: request %T is not a protobuf message", req)
		}
		signed, err := c.Context(ctx, method, msg)
		if err != nil {
			return err
		}
		return invoker(signed, method, req, reply, cc, opts...)
	}
}
