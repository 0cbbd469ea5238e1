package scram

import (
	"crypto/md5"
	"encoding/hex"
	"strings"
)

// MD5Secret returns the secret that PostgreSQL's md5 method stores for user
// and password: "md5" + hex(md5(password + user)). The password is used as
// it is, without normalization.
func MD5Secret(user, password string) string {
	return "md5" + md5Hex(password+user)
}

// IsMD5Secret reports whether s is an md5 secret: "md5" and 32 lowercase
// hex digits.
func IsMD5Secret(s string) bool {
	hexDigits, ok := strings.CutPrefix(s, "md5")
	return ok && len(hexDigits) == 32 &&
		!strings.ContainsFunc(hexDigits, func(r rune) bool { return !('0' <= r && r <= '9' || 'a' <= r && r <= 'f') })
}

// MD5Response returns the PasswordMessage answering AuthenticationMD5Password
// with salt, for secret as MD5Secret returns it: "md5" +
// hex(md5(secret[3:] + salt)).
func MD5Response(secret string, salt [4]byte) string {
	return "md5" + md5Hex(strings.TrimPrefix(secret, "md5")+string(salt[:]))
}

func md5Hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}
